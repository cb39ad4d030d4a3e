// Peer.cs - the .NET peer of the cross-language interop matrix: our
// stand-in for Kiwi, talking through KiwiIpc (the same System.IO.Pipes calls
// Kiwi's ipc package makes, and Encoding.UTF8 both ways).
//
// Usage: mono Peer.exe ROLE NAME VECTORS [OPTION...]
//        dotnet Peer.exe ROLE NAME VECTORS [OPTION...]   (CoreCLR; needs
//                                     Peer.runtimeconfig.json beside it)
// with the same arguments as every other peer (see peer.c and README.md),
// and one more, for test_coreclr.py: with send-close=N, end=exit ends the
// process with status 3 instead of closing (as a Kiwi script ends on an
// error it does not catch), end=throw with an unhandled .NET exception;
// either way nothing is disposed. It prints CONNECTED once create or
// connect has returned.
// Since Kiwi's strings are UTF-8 text, the vectors flagged "binary" are
// always left out here ("text" is implied); the driver passes "text" to the
// other side too.
//
// Build: mcs -out:Peer.exe Peer.cs KiwiIpc.cs
//        cp ../../cmake/dotnet.runtimeconfig.json Peer.runtimeconfig.json

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace KiwiStandIn
{
    class Vector
    {
        public string Name;
        public bool Large, Binary;
        public int Burst;      // 0: one message; else the number of messages
        public byte[] Bytes;   // the message, or the burst's prefix
    }

    class PeerFailure : Exception
    {
        public PeerFailure(string message) : base(message) { }
    }

    // end=throw: left uncaught on purpose.
    class Abandoned : Exception
    {
        public Abandoned() : base("end=throw: the pipe abandoned") { }
    }

    static class Peer
    {
        static long sent, received;

        static byte[] Unhex(string hex)
        {
            if (hex == "-")
                return new byte[0];
            var b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++)
                b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return b;
        }

        static List<Vector> Load(string path)
        {
            var list = new List<Vector>();
            foreach (string raw in File.ReadAllLines(path))
            {
                string line = raw.TrimEnd('\r');
                if (line.Length == 0 || line[0] == '#')
                    continue;
                string[] f = line.Split(' ');
                var v = new Vector();
                v.Name = f[0];
                v.Large = f[1].Contains("large");
                v.Binary = f[1].Contains("binary");
                if (f[2] == "hex")
                    v.Bytes = Unhex(f[3]);
                else if (f[2] == "repeat")
                {
                    byte[] p = Unhex(f[3]);
                    int count = int.Parse(f[4]);
                    v.Bytes = new byte[p.Length * count];
                    for (int i = 0; i < count; i++)
                        Buffer.BlockCopy(p, 0, v.Bytes, i * p.Length, p.Length);
                }
                else if (f[2] == "burst")
                {
                    v.Burst = int.Parse(f[3]);
                    v.Bytes = Unhex(f[4]);
                }
                else
                    throw new PeerFailure("unknown vector kind " + f[2]);
                list.Add(v);
            }
            return list;
        }

        static string Text(byte[] b)
        {
            return Encoding.UTF8.GetString(b);
        }

        static string BurstMessage(Vector v, int i)
        {
            return Text(v.Bytes) + i.ToString();
        }

        static void Send(long h, string m)
        {
            KiwiIpc.Send(h, m);
            sent++;
        }

        // Receive one message; its UTF-8 bytes must be exactly `want`'s.
        static void Expect(long h, string what, string want)
        {
            string got = KiwiIpc.Recv(h);
            received++;
            if (got != want)
            {
                byte[] g = Encoding.UTF8.GetBytes(got);
                byte[] w = Encoding.UTF8.GetBytes(want);
                int at = 0;
                while (at < g.Length && at < w.Length && g[at] == w[at])
                    at++;
                throw new PeerFailure(String.Format(
                    "{0}: got {1} bytes, want {2}; first difference at byte {3}",
                    what, g.Length, w.Length, at));
            }
        }

        static void RunVector(long h, Vector v, bool lead)
        {
            if (v.Burst == 0)
            {
                string m = Text(v.Bytes);
                if (lead)
                {
                    Send(h, m);
                    Expect(h, v.Name, m);
                }
                else
                {
                    Expect(h, v.Name, m);
                    Send(h, m);
                }
                return;
            }
            for (int pass = 0; pass < 2; pass++)
            {
                bool sending = (pass == 0) == lead;
                for (int i = 0; i < v.Burst; i++)
                {
                    if (sending)
                        Send(h, BurstMessage(v, i));
                    else
                        Expect(h, v.Name + " #" + i, BurstMessage(v, i));
                }
            }
        }

        static void ExpectClosed(long h)
        {
            try
            {
                string m = KiwiIpc.Recv(h);
                throw new PeerFailure("expected the peer's close, got a "
                    + "message of " + Encoding.UTF8.GetByteCount(m) + " bytes");
            }
            catch (KiwiError e) when (e.ClosedBetweenMessages)
            {
            }
        }

        static int Main(string[] args)
        {
            if (args.Length < 3 || (args[0] != "server" && args[0] != "client"))
            {
                Console.Error.WriteLine("usage: mono Peer.exe server|client NAME "
                    + "VECTORS [quick] [text] [send-close=N [end=exit|throw]"
                    + "|recv-close=N]");
                return 2;
            }
            bool server = args[0] == "server";
            string name = args[1];
            bool quick = false;
            int sendClose = -1, recvClose = -1;
            string end = "close";
            for (int i = 3; i < args.Length; i++)
            {
                if (args[i] == "quick")
                    quick = true;
                else if (args[i] == "text")
                    continue;
                else if (args[i].StartsWith("send-close="))
                    sendClose = int.Parse(args[i].Substring(11));
                else if (args[i].StartsWith("recv-close="))
                    recvClose = int.Parse(args[i].Substring(11));
                else if (args[i] == "end=exit" || args[i] == "end=throw")
                    end = args[i].Substring(4);
                else
                {
                    Console.Error.WriteLine("Peer.cs: unknown option " + args[i]);
                    return 2;
                }
            }
            try
            {
                List<Vector> vectors = Load(args[2]);
                Console.WriteLine("READY");
                Console.Out.Flush();
                long h = server ? KiwiIpc.Create(name) : KiwiIpc.Connect(name);
                Console.WriteLine("CONNECTED");
                Console.Out.Flush();

                if (sendClose >= 0)
                {
                    for (int i = 1; i <= sendClose; i++)
                        Send(h, "message " + i + " of " + sendClose);
                    if (end == "exit")
                    {
                        Console.WriteLine("EXIT sent={0}", sent);
                        Console.Out.Flush();
                        return 3;
                    }
                    if (end == "throw")
                        throw new Abandoned();
                    KiwiIpc.Close(h);
                    Console.WriteLine("OK sent={0} received={1}", sent, received);
                    return 0;
                }
                if (recvClose >= 0)
                {
                    for (int i = 1; i <= recvClose; i++)
                    {
                        string m = "message " + i + " of " + recvClose;
                        Expect(h, m, m);
                    }
                    ExpectClosed(h);
                    KiwiIpc.Close(h);
                    Console.WriteLine("OK sent={0} received={1} closed", sent,
                        received);
                    return 0;
                }

                // Phase 1: the server leads through every vector. Phase 2:
                // the client leads, large vectors left out.
                for (int phase = 1; phase <= 2; phase++)
                {
                    bool lead = (phase == 1) == server;
                    foreach (Vector v in vectors)
                    {
                        if (v.Binary || (v.Large && (quick || phase == 2)))
                            continue;
                        RunVector(h, v, lead);
                    }
                }
                if (!server)
                    ExpectClosed(h);
                KiwiIpc.Close(h);
                Console.WriteLine("OK sent={0} received={1}", sent, received);
                return 0;
            }
            catch (Exception e) when (!(e is Abandoned))
            {
                Console.Error.WriteLine("Peer.cs {0}: {1}", args[0], e);
                return 1;
            }
        }
    }
}
