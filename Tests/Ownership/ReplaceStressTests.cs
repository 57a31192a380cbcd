using VtdEngine.Ownership;

namespace VtdEngine.Tests.Ownership;

/// <summary>
/// Translate-while-replace (linux-iommu-model.md §7 items 7 and 23): reader threads translate through a device's RID
/// and a PASID, singly and in bursts, while a writer replaces the domains behind both back and forth.
/// </summary>
/// <remarks>
/// Stated invariant. The writer marks a replace as in progress (odd version), replaces, publishes the new domain, then
/// marks it done (even version). A translation that no replace overlapped (same even version before and after) must
/// land exactly where the published domain maps the IOVA, with that domain's DID. One that a replace overlapped may
/// see the old domain, the new one, or — VT-d replace being teardown-then-setup, as in Linux v7.0 — a fault; never a
/// mix (one domain's address with the other's DID) and never anything else.
/// </remarks>
[Trait("Category", "Ownership")]
[Trait("Category", "Stress")]
public class ReplaceStressTests
{
    private const ulong Iova = 0x4000;
    private const uint Pasid = 5;
    private static readonly TimeSpan s_stressTime = TimeSpan.FromSeconds(1);

    [Fact]
    public void NoTranslationSeesAnythingButTheOldOrTheNewDomainAndNoneSeesTheOldOnceReplaceReturned()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(3, 0), new DeviceOptions { PasidWidth = 8 });
        PagingDomain[] domains = [f.Driver.CreatePagingDomain(f.Unit), f.Driver.CreatePagingDomain(f.Unit)];
        ulong[] frames = [OwnershipFixture.DataBase, OwnershipFixture.DataBase + 0x10_0000];
        for (var d = 0; d < domains.Length; d++)
        {
            domains[d].Map(Iova, frames[d], 0x1000, IommuPermissions.ReadWrite);
        }
        f.Driver.AttachDevice(domains[0], device);
        f.Driver.AttachDevicePasid(domains[0], device, Pasid);
        // A second device keeps domain 1 attached throughout, so both DIDs stay allocated and fixed.
        f.Driver.AttachDevice(domains[1], f.Unit.ProbeDevice(OwnershipFixture.Sid(4, 0)));
        ushort[] dids = [domains[0].GetDomainId(f.Unit)!.Value, domains[1].GetDomainId(f.Unit)!.Value];

        var version = 0;       // odd while a replace runs
        var ridDomain = 0;     // published after each replace returned
        var pasidDomain = 0;
        var stop = false;
        var checkedClean = 0L;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        void Check(string path, in TranslationResult result, ulong offset, int before, int after, int published)
        {
            if (before == after && (before & 1) == 0)
            {
                Interlocked.Increment(ref checkedClean);
                if (!result.IsSuccess || result.Address - offset != frames[published] || result.DomainId != dids[published])
                {
                    failures.Enqueue($"{path}, no replace overlapping: expected 0x{frames[published]:x} in DID {dids[published]}, got {result}");
                }
                return;
            }
            if (!result.IsSuccess)
            {
                return; // the teardown window
            }
            var which = Array.IndexOf(frames, result.Address - offset);
            if (which < 0 || result.DomainId != dids[which])
            {
                failures.Enqueue($"{path}, during a replace: {result} is neither domain");
            }
        }

        void Reader(int seed)
        {
            var random = new Random(seed);
            var burst = new DmaRequest[16];
            var results = new TranslationResult[burst.Length];
            while (!Volatile.Read(ref stop))
            {
                var before = Volatile.Read(ref version);
                var publishedRid = Volatile.Read(ref ridDomain);
                var publishedPasid = Volatile.Read(ref pasidDomain);
                var withPasid = random.Next(2) == 0;
                var pasid = withPasid ? Pasid : DmaRequest.NoPasid;
                var published = withPasid ? publishedPasid : publishedRid;
                var path = withPasid ? "PASID" : "RID";
                if (random.Next(2) == 0)
                {
                    var result = f.Unit.Unit.Translate(new DmaRequest(device.SourceId, Iova, AccessKind.Read, pasid));
                    Check(path, result, 0, before, Volatile.Read(ref version), published);
                    continue;
                }
                for (var i = 0; i < burst.Length; i++)
                {
                    burst[i] = new DmaRequest(device.SourceId, Iova + ((ulong)i * 64), AccessKind.Read, pasid);
                }
                f.Unit.Unit.Translate(burst, results);
                var after = Volatile.Read(ref version);
                for (var i = 0; i < results.Length; i++)
                {
                    Check(path + " burst", results[i], (ulong)i * 64, before, after, published);
                }
            }
        }

        var readers = Enumerable.Range(1, 2).Select(seed => new Thread(() => Reader(seed))).ToArray();
        Array.ForEach(readers, r => r.Start());
        var replaces = 0;
        var deadline = DateTime.UtcNow + s_stressTime;
        while (DateTime.UtcNow < deadline && failures.IsEmpty)
        {
            var next = 1 - Volatile.Read(ref pasidDomain);
            Interlocked.Increment(ref version);
            if ((replaces & 1) == 0)
            {
                f.Driver.ReplaceDevicePasid(domains[next], device, Pasid);
                Volatile.Write(ref pasidDomain, next);
            }
            else
            {
                f.Driver.ReplaceGroupDomain(device.Group!, domains[1 - Volatile.Read(ref ridDomain)]);
                Volatile.Write(ref ridDomain, 1 - Volatile.Read(ref ridDomain));
            }
            Interlocked.Increment(ref version);
            replaces++;
        }
        Volatile.Write(ref stop, true);
        Array.ForEach(readers, r => r.Join());

        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures.Take(5)));
        Assert.True(replaces > 100, $"only {replaces} replaces");
        Assert.True(checkedClean > 1000, $"only {checkedClean} translations checked outside a replace");
    }
}
