// server_standin.cs - server.kiwi, line for line, in C#, for running this
// example where Kiwi is not installed. Kiwi runs on .NET and its ipc package
// makes exactly the System.IO.Pipes calls that KiwiIpc (from
// tests_common/KiwiIpc.cs) makes, so helper.py sees no difference.
//
// Build: mcs -out:server_standin.exe server_standin.cs \
//            ../../tests_common/KiwiIpc.cs
// Run from this directory: mono server_standin.exe

using System;
using System.Diagnostics;
using System.Text;
using KiwiStandIn;

static class ServerKiwi
{
    // sys::spawn(program, args): start a process, return its pid.
    static Process Spawn(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program);
        info.UseShellExecute = false;
        info.Arguments = String.Join(" ", Array.ConvertAll(args,
            a => "\"" + a.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\""));
        return Process.Start(info);
    }

    static int Main()
    {
        // Kiwi (.NET on Linux) writes UTF-8 whatever the locale says.
        Console.OutputEncoding = new UTF8Encoding(false);

        string pipe = Environment.GetEnvironmentVariable("KIWI_HELPER_PIPE");
        if (String.IsNullOrEmpty(pipe))
            pipe = "kiwi_helper_pipe";

        Process helper = Spawn("python3", "helper.py", pipe);
        try
        {
            return Serve(pipe, helper);
        }
        finally
        {
            // Not in server.kiwi: if anything failed, do not leave the
            // helper waiting for a pipe that will never come.
            if (!helper.HasExited)
                helper.Kill();
        }
    }

    static int Serve(string pipe, Process helper)
    {
        long handle = KiwiIpc.Create(pipe);
        Console.WriteLine("Helper connected (pid=" + helper.Id + ")");

        string[] requests = {
            "sha256 kiwi",
            "stats 3 1 4 1 5 9 2 6",
            "upper grüße aus Kiwi 🥝",
            "words the kiwi and the python and the pipe",
            "frobnicate",
        };
        foreach (string request in requests)
        {
            KiwiIpc.Send(handle, request);
            string reply = KiwiIpc.Recv(handle);
            Console.WriteLine(request + " -> " + reply);
        }

        KiwiIpc.Send(handle, "quit");
        KiwiIpc.Close(handle);
        helper.WaitForExit();
        Console.WriteLine("Helper finished.");
        return helper.ExitCode; // not in server.kiwi: fail if the helper did
    }
}
