using System.Net;
using System.Net.Sockets;

namespace ExecutionDistribution.Kafka;

/// <summary>
/// A fixed bootstrap address for the embedded broker, whose own ports are random: accepts on
/// 127.0.0.1:<c>port</c> and pipes each connection to the first broker. Clients only bootstrap here;
/// the metadata they get back sends them to the brokers' real addresses (../shared/KAFKA.md).
/// </summary>
internal sealed class LoopbackForwarder : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public LoopbackForwarder(int port, string target)
    {
        var separator = target.LastIndexOf(':');
        _target = new IPEndPoint(IPAddress.Parse(target[..separator]), int.Parse(target[(separator + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        using (client)
        using (var broker = new TcpClient())
        {
            try
            {
                await broker.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = client.GetStream().CopyToAsync(broker.GetStream(), done.Token);
                var down = broker.GetStream().CopyToAsync(client.GetStream(), done.Token);
                await Task.WhenAny(up, down).ConfigureAwait(false);
                await done.CancelAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
                // Either side hung up.
            }
        }
    }
}
