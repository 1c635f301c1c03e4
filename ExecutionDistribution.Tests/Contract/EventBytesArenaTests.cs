using System.Runtime.InteropServices;
using ExecutionDistribution.Contract;
using ExecutionDistribution.Ingest;
using ExecutionDistribution.Ingest.Demo;
using ExecutionDistribution.Tests.Support;

namespace ExecutionDistribution.Tests.Contract;

/// <summary>
/// Events keep their envelope bytes in shared slabs (<see cref="EventBytesArena"/>), not an array
/// each, so that the collector does not copy them while the retained log keeps the events.
/// </summary>
[Category("Unit")]
public sealed class EventBytesArenaTests
{
    [Test]
    public void Envelopes_written_one_after_another_share_a_large_slab_and_keep_their_own_bytes()
    {
        var stream = new SyntheticExecutionStream(seed: 11, liveOrders: 1_000);
        var events = Enumerable.Range(0, 2_000).Select(_ => stream.Next()).ToArray();
        foreach (var e in events)
        {
            _ = e.EnvelopeJson;
        }

        var slabs = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < events.Length; i++)
        {
            Assert.That(MemoryMarshal.TryGetArray(events[i].EnvelopeJson, out var slice), Is.True);
            Assert.That(slice.Array!.Length, Is.EqualTo(EventBytesArena.SlabBytes), $"event {i} lives in a slab, not an array of its own");
            Assert.That(slice.ToArray(), Is.EqualTo(ExecutionEventWriter.Write(events[i], EnvelopeShape.Envelope)), $"event {i}'s bytes, after every later event was written");
            slabs.Add(slice.Array);
        }

        Assert.That(GC.GetGeneration(slabs.First()), Is.EqualTo(GC.MaxGeneration), "a slab is on the large-object heap, which gen0 and gen1 collections do not copy");
        Assert.That(slabs.Count, Is.LessThan(events.Length / 100), "hundreds of events per slab");
    }

    [Test]
    public void Threads_asking_for_one_event_at_once_all_get_its_bytes_and_later_readers_one_shared_copy()
    {
        for (var round = 0; round < 200; round++)
        {
            var e = Events.Fill($"O-race-{round}", eventId: $"E-race-{round}");
            var expected = ExecutionEventWriter.Write(e, EnvelopeShape.Envelope);
            using var start = new Barrier(4);
            var seen = new byte[4][];
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                seen[t] = e.EnvelopeJson.ToArray();
            })).ToArray();
            foreach (var thread in threads)
            {
                thread.Start();
            }

            foreach (var thread in threads)
            {
                thread.Join();
            }

            Assert.That(seen, Has.All.EqualTo(expected), $"round {round}");
            Assert.That(e.EnvelopeJson.Span == e.EnvelopeJson.Span, Is.True, $"round {round}: once written, every reader gets the same bytes");
        }
    }

    [Test]
    public void An_event_larger_than_a_slice_gets_an_array_of_its_own()
    {
        var e = Events.Fill("O-large", eventId: "E-" + new string('x', EventBytesArena.LargestSlice));

        Assert.That(MemoryMarshal.TryGetArray(e.EnvelopeJson, out var slice), Is.True);
        Assert.That(slice.Offset, Is.Zero);
        Assert.That(slice.Count, Is.EqualTo(slice.Array!.Length));
        Assert.That(slice.ToArray(), Is.EqualTo(ExecutionEventWriter.Write(e, EnvelopeShape.Envelope)));
    }
}
