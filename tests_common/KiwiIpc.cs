// KiwiIpc.cs - our stand-in for the Kiwi interpreter's `ipc` package, the
// one C# source of it: every .NET program of the tests, examples and
// benchmarks is compiled with this file (cmake/KiwiDotnet.cmake), and runs
// on Mono and on Microsoft's CoreCLR (Kiwi's own runtime).
//
// Kiwi runs on .NET and its five ipc calls are thin wrappers over
// System.IO.Pipes (src/Runtime/Builtin/Handler/IpcBuiltinHandler.cs in
// Kiwi v1.4.3, read for this). This class makes the same calls
// in the same order, so that a program built on it talks to kiwi-ipc
// exactly as a Kiwi script would:
//   create   new NamedPipeServerStream(name, InOut, 1, Byte, None),
//            WaitForConnection(); the handle is taken after it returns
//   connect  new NamedPipeClientStream(".", name, InOut), Connect() with no
//            timeout (.NET retries for ever while there is no server)
//   send     Encoding.UTF8.GetBytes; two writes: the 4-byte big-endian
//            length, then the payload (none for an empty message); no Flush
//   recv     reads until exactly 4 bytes, new byte[length] (a negative
//            length throws OverflowException, as in Kiwi), reads until
//            exactly length bytes, Encoding.UTF8.GetString (invalid UTF-8
//            becomes U+FFFD; a BOM stays as U+FEFF)
//   close    take the handle out of the table, Dispose(); an unknown handle
//            is silently nothing
// Handles: one process-wide int counter from 1 (Interlocked), shared by
// servers and clients, never reused; a handle argument is cut to 32 bits as
// Kiwi cuts its 64-bit integers (4294967297 is handle 1). No per-handle
// lock, as in Kiwi: two threads sending on one handle may interleave.
//
// Errors are Kiwi's SystemError texts, word for word (KiwiError below):
//   "Failed to create pipe 'NAME': ...", "Failed to connect to pipe
//   'NAME': ...", "Failed to send on IPC handle N: ...", "Failed to receive
//   on IPC handle N: ..." (the end of the stream: "Pipe closed
//   unexpectedly."), "No open IPC handle with ID N."
//
// Built with Mono's mcs; uses nothing newer than C# 6.

using System;
using System.Collections.Concurrent;
using System.IO;
using System.IO.Pipes;
using System.Text;
using System.Threading;

namespace KiwiStandIn
{
    // What Kiwi raises as a SystemError, with Kiwi's message.
    public class KiwiError : Exception
    {
        public KiwiError(string message, Exception cause)
            : base(message, cause) { }

        // For the tests only: recv met the end of the stream where a header
        // would start, i.e. the peer closed between two messages. Kiwi
        // reports that and an end in the middle of a message alike.
        public bool ClosedBetweenMessages
        {
            get { return InnerException is CleanEnd; }
        }
    }

    // The end of the stream before the first byte of a header.
    class CleanEnd : EndOfStreamException
    {
        public CleanEnd(string message) : base(message) { }
    }

    public static class KiwiIpc
    {
        static readonly ConcurrentDictionary<int, Stream> pipes =
            new ConcurrentDictionary<int, Stream>();
        static int lastHandle;

        static long Register(Stream pipe)
        {
            int handle = Interlocked.Increment(ref lastHandle);
            pipes[handle] = pipe;
            return handle;
        }

        static Stream Get(int id)
        {
            Stream pipe;
            if (!pipes.TryGetValue(id, out pipe))
                throw new KiwiError("No open IPC handle with ID " + id + ".",
                    null);
            return pipe;
        }

        // ipc::create(name): blocks until one client connects.
        public static long Create(string name)
        {
            try
            {
                var server = new NamedPipeServerStream(name,
                    PipeDirection.InOut, 1, PipeTransmissionMode.Byte,
                    PipeOptions.None);
                server.WaitForConnection();
                return Register(server);
            }
            catch (Exception e)
            {
                throw new KiwiError("Failed to create pipe '" + name + "': "
                    + e.Message, e);
            }
        }

        // ipc::connect(name): waits, without limit, until a server is there.
        public static long Connect(string name)
        {
            try
            {
                var client = new NamedPipeClientStream(".", name,
                    PipeDirection.InOut);
                client.Connect();
                return Register(client);
            }
            catch (Exception e)
            {
                throw new KiwiError("Failed to connect to pipe '" + name
                    + "': " + e.Message, e);
            }
        }

        // ipc::send(handle, message)
        public static void Send(long handle, string message)
        {
            int id = unchecked((int)handle);
            Stream pipe = Get(id);
            try
            {
                byte[] payload = Encoding.UTF8.GetBytes(message);
                int n = payload.Length;
                byte[] header = new byte[] {
                    (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n };
                pipe.Write(header, 0, 4);
                pipe.Write(payload, 0, n);
            }
            catch (Exception e)
            {
                throw new KiwiError("Failed to send on IPC handle " + id
                    + ": " + e.Message, e);
            }
        }

        // ipc::recv(handle): one whole message.
        public static string Recv(long handle)
        {
            int id = unchecked((int)handle);
            Stream pipe = Get(id);
            try
            {
                byte[] header = new byte[4];
                ReadExactly(pipe, header, 4, true);
                int n = (header[0] << 24) | (header[1] << 16)
                        | (header[2] << 8) | header[3];
                byte[] payload = new byte[n];
                ReadExactly(pipe, payload, n, false);
                return Encoding.UTF8.GetString(payload);
            }
            catch (Exception e)
            {
                throw new KiwiError("Failed to receive on IPC handle " + id
                    + ": " + e.Message, e);
            }
        }

        // ipc::close(handle)
        public static void Close(long handle)
        {
            Stream pipe;
            if (pipes.TryRemove(unchecked((int)handle), out pipe))
                pipe.Dispose();
        }

        static void ReadExactly(Stream s, byte[] buf, int count,
            bool header)
        {
            int got = 0;
            while (got < count)
            {
                int k = s.Read(buf, got, count - got);
                if (k == 0)
                {
                    const string text = "Pipe closed unexpectedly.";
                    if (header && got == 0)
                        throw new CleanEnd(text);
                    throw new EndOfStreamException(text);
                }
                got += k;
            }
        }
    }
}
