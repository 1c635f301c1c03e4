using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace ExecutionDistribution.Benchmarks.Workloads;

/// <content>
/// The lean gRPC load client: server-streaming calls over HTTP/2 (RFC 9113) connections read by the
/// epoll loops of the WebSocket client. Grpc.Net.Client costs the load side about 1.9 µs of CPU per
/// delivery at saturation here, against 0.8 for the epoll WebSocket client reading the bare
/// broadcaster; on 2 shared cores that difference is taken from the server it measures. This client
/// costs a recv, a frame parse and a scan for the stamps per readable socket. It speaks what a gRPC
/// client must: the preface and SETTINGS, HPACK literals for the request headers (it never decodes the
/// server's), a length-prefixed request message, flow control by WINDOW_UPDATE, PING and SETTINGS
/// acknowledgements, and RST_STREAM on close.
/// </content>
public static partial class WebSocketWorkload
{
    /// <summary>Which gRPC client the load side uses: <c>epoll</c> (default on Linux x64) or <c>dotnet</c> (Grpc.Net.Client).</summary>
    internal static bool UseEpollGrpcClient(string[] args) => EpollChosen(args, "--grpc-client");

    internal sealed partial class EpollClients
    {
        private readonly Lock _h2Gate = new();
        private readonly int _h2StreamWindow;
        private readonly int _h2ConnectionWindow;
        private H2Connection? _h2Filling;
        private long _h2PingsAnswered;

        /// <summary>HTTP/2 PINGs answered so far, on all connections.</summary>
        public long PingsAnswered => Interlocked.Read(ref _h2PingsAnswered);

        /// <summary>
        /// Opens one server-streaming call of <paramref name="path"/> with <paramref name="request"/>
        /// (a serialized protobuf message) and completes once the response headers have come. Calls
        /// share a connection up to <paramref name="streamsPerConnection"/> (Kestrel's default limit is 100).
        /// </summary>
        public Task<Receiver> ConnectGrpcAsync(Uri address, string path, byte[] request, int streamsPerConnection) => Task.Run<Receiver>(async () =>
        {
            H2Stream stream;
            lock (_h2Gate)
            {
                if (_h2Filling is null || _h2Filling.Opened >= streamsPerConnection)
                {
                    _h2Filling = H2Connection.Connect(this, address, streamsPerConnection);
                    NextLoop().Add(_h2Filling);
                }

                stream = _h2Filling.Open(path, request);
            }

            await stream.Headers.ConfigureAwait(false);
            return stream;
        });

        /// <summary>One HTTP/2 connection: its streams by id, the bytes read and not yet parsed, its flow-control credit.</summary>
        private sealed class H2Connection : IReadable
        {
            private readonly EpollClients _owner;
            private readonly Lock _send = new();
            private readonly H2Stream?[] _streams;
            private readonly string _authority;
            private byte[] _buffer = new byte[64 * 1024];
            private int _filled;
            private long _unacknowledged; // DATA bytes read since the connection's last WINDOW_UPDATE
            private int _nextStreamId = 1;
            private int _open;
            private Loop? _loop;
            private int _closed;

            private H2Connection(EpollClients owner, Socket socket, string authority, int streams)
            {
                _owner = owner;
                Socket = socket;
                _authority = authority;
                _streams = new H2Stream?[streams];
            }

            public Socket Socket { get; }

            public int Id { get; private set; }

            /// <summary>Streams opened on this connection so far.</summary>
            public int Opened { get; private set; }

            public void OnAdded(Loop loop, int id) => (_loop, Id) = (loop, id);

            // The preface, SETTINGS (no push; the stream window) and the connection's window raised from 65,535.
            public static H2Connection Connect(EpollClients owner, Uri address, int streams)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Connect(address.Host, address.Port);
                var c = new H2Connection(owner, socket, address.Authority, streams);
                var start = new byte[24 + 9 + 12 + 9 + 4];
                "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.CopyTo(start);
                var s = start.AsSpan(24);
                FrameHeader(s, 12, type: 0x4, flags: 0, streamId: 0);
                BinaryPrimitives.WriteUInt16BigEndian(s[9..], 0x2); // SETTINGS_ENABLE_PUSH
                BinaryPrimitives.WriteUInt32BigEndian(s[11..], 0);
                BinaryPrimitives.WriteUInt16BigEndian(s[15..], 0x4); // SETTINGS_INITIAL_WINDOW_SIZE
                BinaryPrimitives.WriteUInt32BigEndian(s[17..], (uint)owner._h2StreamWindow);
                WindowUpdate(s[21..], 0, Math.Max(1, owner._h2ConnectionWindow - 65_535));
                socket.Send(start);
                socket.Blocking = false;
                return c;
            }

            /// <summary>HEADERS (POST, the path, application/grpc, te: trailers) and one DATA frame with the request that ends the client's half.</summary>
            public H2Stream Open(string path, byte[] request)
            {
                var block = new List<byte> { 0x83, 0x86 }; // :method POST, :scheme http (static table 3 and 6)
                Literal(block, 0x04, path); // :path, literal without indexing, name from static table 4
                Literal(block, 0x01, _authority); // :authority (1)
                Literal(block, 0x0F, "application/grpc", extraIndex: 31 - 15); // content-type (31)
                if (_owner.Bearer is { } bearer)
                {
                    Literal(block, 0x0F, $"Bearer {bearer}", extraIndex: 23 - 15); // authorization (23)
                }

                block.Add(0x00); // te: a literal with a new name
                String(block, "te");
                String(block, "trailers");

                var frames = new byte[9 + block.Count + 9 + 5 + request.Length];
                lock (_send)
                {
                    var id = _nextStreamId;
                    _nextStreamId += 2;
                    var stream = new H2Stream(this, id, _owner._h2StreamWindow / 2);
                    Volatile.Write(ref _streams[id >> 1], stream);
                    Opened++;
                    _open++;
                    FrameHeader(frames, block.Count, type: 0x1, flags: 0x4, id); // END_HEADERS
                    block.CopyTo(frames, 9);
                    var data = frames.AsSpan(9 + block.Count);
                    FrameHeader(data, 5 + request.Length, type: 0x0, flags: 0x1, id); // END_STREAM
                    data[9] = 0; // not compressed
                    BinaryPrimitives.WriteInt32BigEndian(data[10..], request.Length);
                    request.CopyTo(data[14..]);
                    SendLocked(frames);
                    return stream;
                }
            }

            public void OnReadable()
            {
                if (Receive(Socket, _buffer, ref _filled) is not { } read)
                {
                    return;
                }

                if (!read)
                {
                    Close();
                    return;
                }

                var at = 0;
                while (_filled - at >= 9)
                {
                    var length = (_buffer[at] << 16) | (_buffer[at + 1] << 8) | _buffer[at + 2];
                    if (9 + length > _buffer.Length)
                    {
                        Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, 9 + length));
                    }

                    if (_filled - at < 9 + length)
                    {
                        break;
                    }

                    var streamId = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(at + 5)) & 0x7FFFFFFF;
                    OnFrame(_buffer[at + 3], _buffer[at + 4], streamId, _buffer.AsSpan(at + 9, length));
                    at += 9 + length;
                }

                _filled -= at;
                if (at > 0 && _filled > 0)
                {
                    _buffer.AsSpan(at, _filled).CopyTo(_buffer);
                }
            }

            private void OnFrame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
            {
                var stream = streamId > 0 && (streamId >> 1) < _streams.Length ? Volatile.Read(ref _streams[streamId >> 1]) : null;
                switch (type)
                {
                    case 0x0: // DATA: flow control counts the whole payload, padding included
                        _unacknowledged += payload.Length;
                        if (_unacknowledged >= _owner._h2ConnectionWindow / 2)
                        {
                            Send(WindowUpdate(0, (int)_unacknowledged));
                            _unacknowledged = 0;
                        }

                        if (stream is not null)
                        {
                            var padded = (flags & 0x8) != 0;
                            var data = padded ? payload[1..^payload[0]] : payload;
                            if (stream.OnData(data, payload.Length) is var credit and > 0)
                            {
                                Send(WindowUpdate(streamId, credit));
                            }

                            if ((flags & 0x1) != 0)
                            {
                                stream.OnEnd("the service ended the stream");
                            }
                        }

                        break;
                    case 0x1: // HEADERS: the response's headers, or its trailers; the block itself is not needed
                        stream?.OnHeaders(endStream: (flags & 0x1) != 0);
                        break;
                    case 0x3: // RST_STREAM
                        stream?.OnEnd($"RST_STREAM {(payload.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(payload) : 0)}");
                        break;
                    case 0x4 when (flags & 0x1) == 0: // SETTINGS: acknowledge
                        Span<byte> ack = stackalloc byte[9];
                        FrameHeader(ack, 0, type: 0x4, flags: 0x1, streamId: 0);
                        Send(ack);
                        break;
                    case 0x6 when (flags & 0x1) == 0 && payload.Length == 8: // PING: answer with the same bytes
                        Span<byte> pong = stackalloc byte[17];
                        FrameHeader(pong, 8, type: 0x6, flags: 0x1, streamId: 0);
                        payload.CopyTo(pong[9..]);
                        Send(pong);
                        Interlocked.Increment(ref _owner._h2PingsAnswered);
                        break;
                    case 0x7: // GOAWAY
                        foreach (var s in _streams)
                        {
                            s?.OnEnd("GOAWAY");
                        }

                        break;
                    default:
                        break;
                }
            }

            /// <summary>A stream is done with: RST_STREAM (CANCEL) if the connection is open, and the connection closes after its last stream.</summary>
            public void Release(H2Stream stream)
            {
                Span<byte> reset = stackalloc byte[13];
                FrameHeader(reset, 4, type: 0x3, flags: 0, stream.StreamId);
                BinaryPrimitives.WriteUInt32BigEndian(reset[9..], 0x8);
                bool last;
                lock (_send)
                {
                    if (Volatile.Read(ref _closed) == 0)
                    {
                        SendLocked(reset);
                    }

                    last = --_open == 0;
                }

                if (last)
                {
                    Close();
                }
            }

            private void Close()
            {
                if (Interlocked.Exchange(ref _closed, 1) != 0)
                {
                    return;
                }

                _loop?.Remove(this);
                Socket.Dispose();
                foreach (var s in _streams)
                {
                    s?.OnEnd("connection closed");
                }
            }

            private void Send(ReadOnlySpan<byte> bytes)
            {
                lock (_send)
                {
                    SendLocked(bytes);
                }
            }

            // The socket is non-blocking: a full send buffer is waited out (frames are small and rare on this side).
            private void SendLocked(ReadOnlySpan<byte> bytes)
            {
                while (!bytes.IsEmpty && Volatile.Read(ref _closed) == 0)
                {
                    var n = Socket.Send(bytes, SocketFlags.None, out var error);
                    if (error == SocketError.WouldBlock)
                    {
                        Thread.Yield();
                        continue;
                    }

                    if (error != SocketError.Success)
                    {
                        return;
                    }

                    bytes = bytes[n..];
                }
            }

            private static void FrameHeader(Span<byte> frame, int length, byte type, byte flags, int streamId)
            {
                frame[0] = (byte)(length >> 16);
                frame[1] = (byte)(length >> 8);
                frame[2] = (byte)length;
                frame[3] = type;
                frame[4] = flags;
                BinaryPrimitives.WriteInt32BigEndian(frame[5..], streamId);
            }

            private static byte[] WindowUpdate(int streamId, int increment)
            {
                var frame = new byte[13];
                WindowUpdate(frame, streamId, increment);
                return frame;
            }

            private static void WindowUpdate(Span<byte> frame, int streamId, int increment)
            {
                FrameHeader(frame, 4, type: 0x8, flags: 0, streamId);
                BinaryPrimitives.WriteInt32BigEndian(frame[9..], increment);
            }

            // HPACK (RFC 7541 6.2.2): a literal without indexing whose name is in the static table.
            private static void Literal(List<byte> block, byte first, string value, int extraIndex = -1)
            {
                block.Add(first);
                if (extraIndex >= 0)
                {
                    block.Add((byte)extraIndex); // the rest of an index of 15 or more (4-bit prefix), under 128
                }

                String(block, value);
            }

            // An HPACK string literal, not Huffman-coded: a 7-bit prefix length, then the bytes.
            private static void String(List<byte> block, string value)
            {
                var bytes = Encoding.ASCII.GetBytes(value);
                var length = bytes.Length;
                if (length < 127)
                {
                    block.Add((byte)length);
                }
                else
                {
                    block.Add(127);
                    for (length -= 127; length >= 128; length >>= 7)
                    {
                        block.Add((byte)((length & 0x7F) | 0x80));
                    }

                    block.Add((byte)length);
                }

                block.AddRange(bytes);
            }
        }

        /// <summary>One call: the gRPC messages assembled from its DATA frames, each scanned for the stamps of its events.</summary>
        private sealed class H2Stream : Receiver
        {
            private readonly H2Connection _connection;
            private readonly int _creditAt;
            private readonly TaskCompletionSource _headers = new(TaskCreationOptions.RunContinuationsAsynchronously);
            private byte[] _pending = new byte[64 * 1024];
            private int _pendingLength;
            private int _unacknowledged;
            private int _released;

            public H2Stream(H2Connection connection, int streamId, int creditAt) => (_connection, StreamId, _creditAt) = (connection, streamId, creditAt);

            public int StreamId { get; }

            /// <summary>Completes when the response's headers come; fails if the call ends before them (trailers only: refused).</summary>
            public Task Headers => _headers.Task;

            public void OnHeaders(bool endStream)
            {
                if (endStream)
                {
                    _headers.TrySetException(new InvalidOperationException($"gRPC call on stream {StreamId} refused (a trailers-only response)"));
                }
                else
                {
                    _headers.TrySetResult();
                }
            }

            public void OnEnd(string why) => _headers.TrySetException(new InvalidOperationException($"gRPC call on stream {StreamId} ended: {why}"));

            /// <summary>Takes a DATA frame's data; returns the credit to give back to the stream now, or 0.</summary>
            public int OnData(ReadOnlySpan<byte> data, int frameLength)
            {
                if (_pendingLength == 0)
                {
                    data = Messages(data); // the usual case: whole messages in this frame
                }

                if (!data.IsEmpty)
                {
                    if (_pendingLength + data.Length > _pending.Length)
                    {
                        Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + data.Length));
                    }

                    data.CopyTo(_pending.AsSpan(_pendingLength));
                    _pendingLength += data.Length;
                    var rest = Messages(_pending.AsSpan(0, _pendingLength));
                    rest.CopyTo(_pending);
                    _pendingLength = rest.Length;
                }

                _unacknowledged += frameLength;
                if (_unacknowledged < _creditAt)
                {
                    return 0;
                }

                var credit = _unacknowledged;
                _unacknowledged = 0;
                return credit;
            }

            // Records every whole length-prefixed message at the start of `bytes`; returns what is left.
            private ReadOnlySpan<byte> Messages(ReadOnlySpan<byte> bytes)
            {
                while (bytes.Length >= 5)
                {
                    var length = BinaryPrimitives.ReadInt32BigEndian(bytes[1..]);
                    if (bytes.Length - 5 < length)
                    {
                        break;
                    }

                    Record(bytes.Slice(5, length)); // an ExecutionMessage: the stamps are in its events' JSON
                    bytes = bytes[(5 + length)..];
                }

                return bytes;
            }

            public override void Dispose()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0)
                {
                    _connection.Release(this);
                }
            }
        }
    }
}
