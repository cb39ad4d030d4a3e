// KiwiIpc.cs - our stand-in for the Kiwi interpreter's `ipc` package.
//
// Kiwi runs on .NET and its five ipc calls are thin wrappers over
// System.IO.Pipes; this class does the same things the same way
// (DESIGN.md §1), so that a program built on it talks to kiwi-ipc exactly as
// a Kiwi script would:
//   create   new NamedPipeServerStream(name, InOut, 1, Byte, None)
//            + WaitForConnection()
//   connect  new NamedPipeClientStream(".", name, InOut) + Connect()
//   send     Encoding.UTF8 bytes; the 4-byte big-endian length and the
//            payload as two separate writes
//   recv     reads of exactly 4, then exactly N bytes; Encoding.UTF8
//   close    Dispose(); an unknown handle is ignored
// Handles are integers from a counter starting at 1, never reused.
//
// Used by Peer.cs (the interop matrix) and by the examples' Kiwi stand-ins.
// Built with Mono's mcs; uses nothing newer than C# 6.

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Pipes;
using System.Text;

namespace KiwiStandIn
{
    // The peer closed the pipe between two messages: Read() returned 0 where
    // a header would start. Kiwi reports this as a SystemError from recv;
    // we keep it apart so that tests can tell a clean end from a broken one.
    public class PipeClosedException : IOException
    {
        public PipeClosedException() : base("pipe closed") { }
    }

    public static class KiwiIpc
    {
        static readonly Dictionary<long, PipeStream> pipes =
            new Dictionary<long, PipeStream>();
        static long nextHandle = 1;

        static long Register(PipeStream pipe)
        {
            lock (pipes)
            {
                long handle = nextHandle++;
                pipes[handle] = pipe;
                return handle;
            }
        }

        static PipeStream Get(long handle)
        {
            lock (pipes)
            {
                PipeStream pipe;
                if (!pipes.TryGetValue(handle, out pipe))
                    throw new InvalidOperationException(
                        "ipc: invalid handle " + handle);
                return pipe;
            }
        }

        // ipc::create(name): blocks until one client connects.
        public static long Create(string name)
        {
            var server = new NamedPipeServerStream(name, PipeDirection.InOut,
                1, PipeTransmissionMode.Byte, PipeOptions.None);
            server.WaitForConnection();
            return Register(server);
        }

        // ipc::connect(name): waits until a server is there.
        public static long Connect(string name)
        {
            var client = new NamedPipeClientStream(".", name,
                PipeDirection.InOut);
            client.Connect();
            return Register(client);
        }

        // ipc::send(handle, message)
        public static void Send(long handle, string message)
        {
            PipeStream pipe = Get(handle);
            byte[] payload = Encoding.UTF8.GetBytes(message);
            int n = payload.Length;
            byte[] header = new byte[] {
                (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n };
            pipe.Write(header, 0, 4);
            pipe.Write(payload, 0, n);
            pipe.Flush();
        }

        // ipc::recv(handle): one whole message.
        public static string Recv(long handle)
        {
            PipeStream pipe = Get(handle);
            byte[] header = ReadExactly(pipe, 4, true);
            int n = (header[0] << 24) | (header[1] << 16) | (header[2] << 8)
                    | header[3];
            if (n < 0)
                throw new IOException("ipc: negative message length " + n);
            byte[] payload = ReadExactly(pipe, n, false);
            return Encoding.UTF8.GetString(payload);
        }

        // ipc::close(handle)
        public static void Close(long handle)
        {
            PipeStream pipe;
            lock (pipes)
            {
                if (!pipes.TryGetValue(handle, out pipe))
                    return;
                pipes.Remove(handle);
            }
            pipe.Dispose();
        }

        static byte[] ReadExactly(Stream s, int count, bool atBoundary)
        {
            byte[] buf = new byte[count];
            int got = 0;
            while (got < count)
            {
                int k = s.Read(buf, got, count - got);
                if (k == 0)
                {
                    if (atBoundary && got == 0)
                        throw new PipeClosedException();
                    throw new IOException("ipc: pipe closed in the middle of "
                        + "a message");
                }
                got += k;
            }
            return buf;
        }
    }
}
