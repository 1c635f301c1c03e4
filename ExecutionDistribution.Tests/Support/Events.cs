using ExecutionDistribution.Contract;

namespace ExecutionDistribution.Tests.Support;

/// <summary>Builds events for tests: small, explicit, one field changed at a time.</summary>
internal static class Events
{
    private static long _counter;

    public static readonly DateTime Time = new(2025, 6, 21, 10, 0, 0, DateTimeKind.Utc);

    public static ExecutionEvent Fill(
        string orderId = "O-1",
        string instrument = "AAPL",
        string venue = "NYSE",
        string? routingKey = null,
        string topic = "execution/fills/processed",
        int priority = 1,
        string[]? workflows = null,
        string? eventId = null,
        bool latencySensitive = false)
    {
        var n = Interlocked.Increment(ref _counter);
        var payload = new FillNotification(orderId, $"F-{n}", instrument, Side.Buy, 100m, 150.25m, venue, Time, 1.5m, FillExecType.Trade, null, null, null);
        return new ExecutionEvent(eventId ?? $"E-{n}", Time, ExecutionDataType.FillNotification, payload,
            new RoutingInfo(topic, routingKey ?? $"{instrument}.fill.complete", workflows ?? ["portfolio_management"], priority, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("oms", venue, latencySensitive, true, []));
    }

    public static ExecutionEvent Order(string orderId = "O-1", string instrument = "AAPL", int priority = 5, string? eventId = null, string portfolio = "PF001")
    {
        var n = Interlocked.Increment(ref _counter);
        var payload = new OrderUpdate(orderId, portfolio, instrument, Side.Buy, OrderType.Limit, 100m, 150m, TimeInForce.Day, OrderExecType.New, "NYSE", null, Time);
        return new ExecutionEvent(eventId ?? $"E-{n}", Time, ExecutionDataType.OrderUpdate, payload,
            new RoutingInfo("execution/orders/updates", $"{instrument}.order.new", ["order_management"], priority, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("oms", "NYSE", false, true, []));
    }

    public static ExecutionEvent Venue(string venue = "NYSE", VenueState state = VenueState.Halted)
    {
        var n = Interlocked.Increment(ref _counter);
        return new ExecutionEvent($"E-{n}", Time, ExecutionDataType.VenueStatus, new VenueStatus(venue, state, null, null, Time),
            new RoutingInfo("execution/venues/status", $"{venue}.venue.{state.ToString().ToLowerInvariant()}", ["trading_operations"], 5, DeliveryGuarantee.AtLeastOnce),
            new ExecutionMetadata("venue_gateway", venue, false, false, []));
    }
}
