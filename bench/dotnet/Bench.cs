// Bench.cs - the .NET contender: Kiwi's side of a pipe. It drives
// KiwiIpc.cs from the interop matrix (tests_interop/peers/), our stand-in
// for Kiwi's `ipc` package, which does what Kiwi does the way Kiwi does it:
// NamedPipeServerStream / NamedPipeClientStream, the header and the payload
// in two writes, reads of exactly 4 then exactly N bytes, UTF-8 strings.
//
//   mono bench_dotnet.exe ROLE WORKLOAD PATH COUNT SIZE   (see bench/c/bench.h)
//
// PATH is absolute, which .NET (and Mono 6.8) use verbatim as the socket path.
using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using KiwiStandIn;

static class Bench
{
    static void Check(string msg, int size)
    {
        if (msg.Length != size || (size > 0 && (msg[0] != 'x' || msg[size - 1] != 'x')))
            throw new InvalidDataException("got a " + msg.Length + "-char message, wanted " + size);
    }

    static void Report(Stopwatch sw)
    {
        Console.WriteLine("seconds=" + sw.Elapsed.TotalSeconds.ToString("R", CultureInfo.InvariantCulture));
    }

    static int Main(string[] args)
    {
        if (args.Length != 5)
        {
            Console.Error.WriteLine("usage: bench_dotnet.exe server|client pingpong|stream PATH COUNT SIZE");
            return 2;
        }
        bool server = args[0] == "server";
        bool pingpong = args[1] == "pingpong";
        string path = args[2];
        long count = long.Parse(args[3], CultureInfo.InvariantCulture);
        int size = int.Parse(args[4], CultureInfo.InvariantCulture);
        // The client's only: the server's peak RSS is its receiving alone.
        string payload = server ? "" : new string('x', size);

        long h = server ? KiwiIpc.Create(path) : KiwiIpc.Connect(path);
        if (pingpong)
        {
            long warm = count / 10;
            var sw = new Stopwatch();
            for (long i = 0; i < warm + count; i++)
            {
                if (i == warm)
                    sw.Start();
                if (server)
                {
                    KiwiIpc.Send(h, KiwiIpc.Recv(h));
                }
                else
                {
                    KiwiIpc.Send(h, payload);
                    Check(KiwiIpc.Recv(h), size);
                }
            }
            sw.Stop();
            if (!server)
                Report(sw);
        }
        else if (server)
        {
            var sw = Stopwatch.StartNew();
            KiwiIpc.Send(h, "g");
            for (long i = 0; i < count; i++)
                Check(KiwiIpc.Recv(h), size);
            sw.Stop();
            Report(sw);
        }
        else
        {
            KiwiIpc.Recv(h); // "go"
            for (long i = 0; i < count; i++)
                KiwiIpc.Send(h, payload);
        }
        KiwiIpc.Close(h);
        return 0;
    }
}
