using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using ExecutionDistribution.Benchmarks.Support;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <content>
/// The lean WebSocket load client: many connections read by one thread through epoll (Linux x64).
/// <see cref="System.Net.WebSockets.ClientWebSocket"/> costs the load side about 10 µs of CPU per
/// message here (a thread-pool hop and an async state machine per receive), as much as the server it
/// measures, and on 2 shared cores that cost lands in the server's latency. This client costs a
/// recv and a frame parse per readable socket; the server sees the same RFC 6455 client.
/// </content>
public static partial class WebSocketWorkload
{
    /// <summary>Which WebSocket client the load side uses: <c>epoll</c> (default on Linux x64) or <c>dotnet</c> (ClientWebSocket).</summary>
    internal static bool UseEpollClient(string[] args) => EpollChosen(args, "--ws-client");

    // epoll unless the option says dotnet; dotnet where epoll is not (only Linux x64 is).
    private static bool EpollChosen(string[] args, string option) =>
        (args.Option(option) ?? (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 ? "epoll" : "dotnet")) == "epoll";

    /// <summary>One epoll set read by one thread; connections are spread over <paramref name="threads"/> of them.</summary>
    internal sealed partial class EpollClients : IDisposable
    {
        private readonly Loop[] _loops;
        private int _next;

        /// <summary>
        /// <paramref name="threads"/> reading loops. An HTTP/2 connection (<see cref="ConnectGrpcAsync"/>) gives each
        /// stream <paramref name="h2StreamWindow"/> bytes of credit and itself <paramref name="h2ConnectionWindow"/>,
        /// each given back when half is used.
        /// </summary>
        /// <summary>A bearer token every connection (WebSocket upgrade) and stream (HTTP/2 HEADERS) carries, or null.</summary>
        public string? Bearer { get; init; }

        public EpollClients(int threads, int h2StreamWindow = 16 << 20, int h2ConnectionWindow = 256 << 20)
        {
            _loops = [.. Enumerable.Range(0, Math.Max(1, threads)).Select(i => new Loop(i))];
            _h2StreamWindow = h2StreamWindow;
            _h2ConnectionWindow = h2ConnectionWindow;
        }

        /// <summary>
        /// Connects, upgrades (a blocking handshake), sends <paramref name="messages"/> (text frames; a connection
        /// given messages is a multiplexed one, whose events count once per subscription), and hands the socket
        /// to a reading thread.
        /// </summary>
        public Task<Receiver> ConnectAsync(Uri uri, IReadOnlyList<byte[]> messages) => Task.Run<Receiver>(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(uri.Host, uri.Port);
            var request = $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                          (Bearer is null ? string.Empty : $"Authorization: Bearer {Bearer}\r\n") +
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
            socket.Send(Encoding.ASCII.GetBytes(request));
            var client = new Connection(socket, multiplexed: messages.Count > 0 || uri.Query.Contains("multiplex=true", StringComparison.Ordinal));
            client.ReadHandshake();
            foreach (var message in messages)
            {
                socket.Send(ClientFrame(0x81, message));
            }

            socket.Blocking = false;
            NextLoop().Add(client);
            return client;
        });

        /// <summary>Connects, upgrades and hands the socket to a reading thread.</summary>
        public Task<Receiver> ConnectAsync(Uri uri) => ConnectAsync(uri, []);

        // A client frame: masked (with a zero mask, which leaves the payload as it is), any length.
        private static byte[] ClientFrame(byte b0, ReadOnlySpan<byte> payload)
        {
            var header = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
            var frame = new byte[header + 4 + payload.Length];
            frame[0] = b0;
            if (header == 2)
            {
                frame[1] = (byte)(0x80 | payload.Length);
            }
            else if (header == 4)
            {
                frame[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
            }
            else
            {
                frame[1] = 0x80 | 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
            }

            payload.CopyTo(frame.AsSpan(header + 4));
            return frame;
        }

        public void Dispose()
        {
            foreach (var loop in _loops)
            {
                loop.Dispose();
            }
        }

        /// <summary>A socket a loop reads: told its id when added, called when it is readable.</summary>
        private interface IReadable
        {
            Socket Socket { get; }

            int Id { get; }

            void OnAdded(Loop loop, int id);

            void OnReadable();
        }

        // Appends what a readable socket has to buffer[filled..]: true when bytes came, false when it closed,
        // null when nothing was there after all.
        private static bool? Receive(Socket socket, byte[] buffer, ref int filled)
        {
            var n = socket.Receive(buffer.AsSpan(filled), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                return null;
            }

            if (error != SocketError.Success || n == 0)
            {
                return false;
            }

            filled += n;
            return true;
        }

        private Loop NextLoop() => _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];

        private sealed class Loop : IDisposable
        {
            private readonly int _epoll;
            private readonly Thread _thread;
            private readonly Lock _gate = new();
            private IReadable?[] _connections = new IReadable?[1024];
            private int _count;
            private volatile bool _stop;

            public Loop(int index)
            {
                _epoll = EpollCreate1(0);
                if (_epoll < 0)
                {
                    throw new InvalidOperationException($"epoll_create1 failed: {Marshal.GetLastPInvokeError()}");
                }

                _thread = new Thread(Run) { IsBackground = true, Name = $"ws-load-{index}" };
                _thread.Start();
            }

            public void Add(IReadable connection)
            {
                int id;
                lock (_gate)
                {
                    id = _count++;
                    if (id == _connections.Length)
                    {
                        var grown = new IReadable?[id * 2];
                        _connections.CopyTo(grown, 0);
                        Volatile.Write(ref _connections, grown);
                    }

                    Volatile.Write(ref _connections[id], connection);
                }

                var e = new EpollEvent { Events = EpollIn, Data = (ulong)id };
                if (EpollCtl(_epoll, EpollCtlAdd, (int)connection.Socket.Handle, ref e) != 0)
                {
                    throw new InvalidOperationException($"epoll_ctl failed: {Marshal.GetLastPInvokeError()}");
                }

                connection.OnAdded(this, id);
            }

            public void Remove(IReadable connection)
            {
                var e = default(EpollEvent);
                _ = EpollCtl(_epoll, EpollCtlDel, (int)connection.Socket.Handle, ref e);
                Volatile.Write(ref Volatile.Read(ref _connections)[connection.Id], null);
            }

            private unsafe void Run()
            {
                var events = new EpollEvent[256];
                while (!_stop)
                {
                    int n;
                    fixed (EpollEvent* p = events)
                    {
                        n = EpollWait(_epoll, p, events.Length, 100);
                    }

                    var connections = Volatile.Read(ref _connections);
                    for (var i = 0; i < n; i++)
                    {
                        var id = (int)events[i].Data;
                        if (id < connections.Length && Volatile.Read(ref connections[id]) is { } c)
                        {
                            c.OnReadable();
                        }
                    }
                }
            }

            public void Dispose()
            {
                _stop = true;
                _thread.Join(TimeSpan.FromSeconds(5));
                _ = Close(_epoll);
            }
        }

        /// <summary>One connection: its socket, the bytes read and not yet parsed, the message being assembled.</summary>
        private sealed class Connection : Receiver, IReadable
        {
            private byte[] _buffer = new byte[64 * 1024];
            private int _filled;
            private byte[] _message = new byte[64 * 1024];
            private int _messageLength;
            private Loop? _loop;
            private int _closed;

            private readonly bool _multiplexed;

            public Connection(Socket socket, bool multiplexed)
            {
                Socket = socket;
                _multiplexed = multiplexed;
            }

            public Socket Socket { get; }

            public int Id { get; private set; }

            public void OnAdded(Loop loop, int id) => (_loop, Id) = (loop, id);

            // Reads the 101 response; bytes after it are the first frames.
            public void ReadHandshake()
            {
                while (true)
                {
                    var n = Socket.Receive(_buffer.AsSpan(_filled));
                    if (n == 0)
                    {
                        throw new InvalidOperationException("connection closed during the WebSocket handshake");
                    }

                    _filled += n;
                    var end = _buffer.AsSpan(0, _filled).IndexOf("\r\n\r\n"u8);
                    if (end < 0)
                    {
                        continue;
                    }

                    if (!_buffer.AsSpan().StartsWith("HTTP/1.1 101"u8))
                    {
                        throw new InvalidOperationException($"WebSocket upgrade refused: {Encoding.ASCII.GetString(_buffer, 0, _filled)}");
                    }

                    _filled -= end + 4;
                    _buffer.AsSpan(end + 4, _filled).CopyTo(_buffer);
                    return;
                }
            }

            public void OnReadable()
            {
                if (Receive(Socket, _buffer, ref _filled) is { } read)
                {
                    if (read)
                    {
                        Parse();
                    }
                    else
                    {
                        Dispose();
                    }
                }
            }

            // Server frames are unmasked: 2 header bytes, then a 16- or 64-bit length when the 7-bit one says so.
            private void Parse()
            {
                var at = 0;
                while (_filled - at >= 2)
                {
                    var b0 = _buffer[at];
                    var length = (long)(_buffer[at + 1] & 0x7F);
                    var header = 2;
                    if (length == 126)
                    {
                        if (_filled - at < 4)
                        {
                            break;
                        }

                        length = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(at + 2));
                        header = 4;
                    }
                    else if (length == 127)
                    {
                        if (_filled - at < 10)
                        {
                            break;
                        }

                        length = (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(at + 2));
                        header = 10;
                    }

                    if (header + length > _buffer.Length)
                    {
                        Array.Resize(ref _buffer, (int)Math.Min(int.MaxValue, Math.Max(_buffer.Length * 2L, header + length)));
                    }

                    if (_filled - at < header + length)
                    {
                        break;
                    }

                    OnFrame(b0, _buffer.AsSpan(at + header, (int)length));
                    at += header + (int)length;
                }

                _filled -= at;
                if (at > 0 && _filled > 0)
                {
                    _buffer.AsSpan(at, _filled).CopyTo(_buffer);
                }
            }

            private void OnFrame(byte b0, ReadOnlySpan<byte> payload)
            {
                var fin = (b0 & 0x80) != 0;
                switch (b0 & 0x0F)
                {
                    case 0 or 1 or 2 when fin && _messageLength == 0:
                        RecordMessage(payload); // the usual case: a whole message in one frame
                        break;
                    case 0 or 1 or 2:
                        if (_messageLength + payload.Length > _message.Length)
                        {
                            Array.Resize(ref _message, Math.Max(_message.Length * 2, _messageLength + payload.Length));
                        }

                        payload.CopyTo(_message.AsSpan(_messageLength));
                        _messageLength += payload.Length;
                        if (fin)
                        {
                            RecordMessage(_message.AsSpan(0, _messageLength));
                            _messageLength = 0;
                        }

                        break;
                    case 9:
                        Pong(payload);
                        break;
                    case 8:
                        Dispose();
                        break;
                    default:
                        break;
                }
            }

            private void RecordMessage(ReadOnlySpan<byte> message)
            {
                if (_multiplexed)
                {
                    RecordMultiplexed(message);
                }
                else
                {
                    Record(message);
                }
            }

            // A pong echoes the ping's payload (a control frame carries at most 125 bytes).
            private void Pong(ReadOnlySpan<byte> payload) =>
                Socket.Send(ClientFrame(0x8A, payload[..Math.Min(payload.Length, 125)]), SocketFlags.None, out _);

            public override void Dispose()
            {
                if (Interlocked.Exchange(ref _closed, 1) != 0)
                {
                    return;
                }

                _loop?.Remove(this);
                Socket.Dispose();
            }
        }

        private const int EpollIn = 0x001;
        private const int EpollCtlAdd = 1;
        private const int EpollCtlDel = 2;

        // x86-64 packs struct epoll_event: 4 bytes of events, then 8 of data, 12 in all.
        [StructLayout(LayoutKind.Sequential, Pack = 4)]
        private struct EpollEvent
        {
            public uint Events;
            public ulong Data;
        }

        [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
        private static partial int EpollCreate1(int flags);

        [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
        private static partial int EpollCtl(int epfd, int op, int fd, ref EpollEvent e);

        [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
        private static unsafe partial int EpollWait(int epfd, EpollEvent* events, int maxEvents, int timeout);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);
    }
}
