// KiwiPeer.cs - a scriptable .NET peer for the kiwi-ipc tool's tests: our
// stand-in for a Kiwi script, through KiwiIpc (tests_interop/peers), which
// makes the same System.IO.Pipes calls as Kiwi's ipc package.
//
// Usage: mono KiwiPeer.exe server|client NAME STEP...
//        dotnet KiwiPeer.exe ...   (CoreCLR, KiwiPeer.runtimeconfig.json
//                                   beside it)
//   send:HEX       send the message whose UTF-8 bytes are HEX ("-" = empty)
//   sendrep:HEX:N  send HEX repeated N times (large messages)
//   recv           receive one message; print "RECV <hex of its UTF-8>"
//   recvlen        receive one message; print "RECVLEN <bytes> <its first
//                  8 bytes in hex> <its last 8 bytes in hex>"
//   closed         expect the peer's clean close; print "CLOSED"
// Prints READY before it creates or connects, CONNECTED once it has, and
// DONE at the end; exits 1 on any failure (explained on stderr).
//
// Build: mcs -out:KiwiPeer.exe KiwiPeer.cs ../../tests_common/KiwiIpc.cs
//        (CMake does it: cmake/KiwiDotnet.cmake)

using System;
using System.Text;

namespace KiwiStandIn
{
    static class KiwiPeer
    {
        static byte[] Unhex(string hex)
        {
            if (hex == "-")
                return new byte[0];
            var b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++)
                b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return b;
        }

        static string Hex(byte[] b, int from, int count)
        {
            var sb = new StringBuilder(count * 2);
            for (int i = from; i < from + count; i++)
                sb.Append(b[i].ToString("x2"));
            return sb.ToString();
        }

        static int Main(string[] args)
        {
            if (args.Length < 2 || (args[0] != "server" && args[0] != "client"))
            {
                Console.Error.WriteLine("usage: mono KiwiPeer.exe server|client NAME STEP...");
                return 2;
            }
            try
            {
                Console.WriteLine("READY");
                Console.Out.Flush();
                long h = args[0] == "server" ? KiwiIpc.Create(args[1])
                                             : KiwiIpc.Connect(args[1]);
                Console.WriteLine("CONNECTED");
                Console.Out.Flush();
                for (int i = 2; i < args.Length; i++)
                {
                    string step = args[i];
                    if (step.StartsWith("send:"))
                        KiwiIpc.Send(h, Encoding.UTF8.GetString(Unhex(step.Substring(5))));
                    else if (step.StartsWith("sendrep:"))
                    {
                        string[] f = step.Split(':');
                        string unit = Encoding.UTF8.GetString(Unhex(f[1]));
                        var sb = new StringBuilder();
                        for (int k = int.Parse(f[2]); k > 0; k--)
                            sb.Append(unit);
                        KiwiIpc.Send(h, sb.ToString());
                    }
                    else if (step == "recv" || step == "recvlen")
                    {
                        byte[] m = Encoding.UTF8.GetBytes(KiwiIpc.Recv(h));
                        if (step == "recv")
                            Console.WriteLine("RECV " + (m.Length == 0 ? "-" : Hex(m, 0, m.Length)));
                        else
                            Console.WriteLine("RECVLEN " + m.Length + " "
                                + Hex(m, 0, Math.Min(8, m.Length)) + " "
                                + Hex(m, Math.Max(0, m.Length - 8), Math.Min(8, m.Length)));
                    }
                    else if (step == "closed")
                    {
                        try
                        {
                            KiwiIpc.Recv(h);
                            throw new Exception("expected the peer's close, got a message");
                        }
                        catch (KiwiError e) when (e.ClosedBetweenMessages)
                        {
                            Console.WriteLine("CLOSED");
                        }
                    }
                    else
                        throw new Exception("unknown step " + step);
                    Console.Out.Flush();
                }
                KiwiIpc.Close(h);
                Console.WriteLine("DONE");
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("KiwiPeer {0}: {1}", args[0], e);
                return 1;
            }
        }
    }
}
