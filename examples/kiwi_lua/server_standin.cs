// server_standin.cs - server.kiwi, line for line, in C#, for running this
// example where Kiwi is not installed. Kiwi runs on .NET and its ipc package
// makes exactly the System.IO.Pipes calls that KiwiIpc (from
// tests_common/KiwiIpc.cs) makes, so client.lua sees no difference.
//
// Build: mcs -out:server_standin.exe server_standin.cs \
//            ../../tests_common/KiwiIpc.cs
// Run:   mono server_standin.exe      (run_here.sh runs it with the client)

using System;
using System.Collections.Generic;
using System.Text;
using KiwiStandIn;

static class ServerKiwi
{
    static void Main()
    {
        // Kiwi (.NET on Linux) writes UTF-8 whatever the locale says.
        Console.OutputEncoding = new UTF8Encoding(false);

        string pipe = Environment.GetEnvironmentVariable("KIWI_KV_PIPE");
        if (String.IsNullOrEmpty(pipe))
            pipe = "kiwi_kv_pipe";

        Console.WriteLine("Kiwi: serving the key-value store");
        long handle = KiwiIpc.Create(pipe);
        Console.WriteLine("Kiwi: a client connected");

        var store = new Dictionary<string, string>();
        int requests = 0;
        while (true)
        {
            string request = KiwiIpc.Recv(handle);
            if (request == "bye")
                break;
            requests += 1;
            string[] parts = request.Split(new[] { ' ' }, 3);
            string command = parts[0];
            string reply;
            if (command == "set" && parts.Length == 3)
            {
                store[parts[1]] = parts[2];
                reply = "ok";
            }
            else if (command == "get" && parts.Length == 2)
                reply = store.ContainsKey(parts[1]) ? store[parts[1]] : "(none)";
            else if (command == "keys")
            {
                var keys = new List<string>(store.Keys);
                keys.Sort(StringComparer.Ordinal);
                reply = String.Join(",", keys);
            }
            else
                reply = "error: bad request: " + request;
            KiwiIpc.Send(handle, reply);
        }

        KiwiIpc.Close(handle);
        Console.WriteLine("Kiwi: the client said bye after " + requests
            + " requests");
    }
}
