using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// A scalable-mode unit over sparse memory with domains built by the simulator's <see cref="SimPageTables"/>: what
/// every benchmark class sets up in [GlobalSetup].
/// </summary>
public sealed class EngineFixture
{
    /// <summary>Requester of every benchmark request (bus 0x3a, device 1, function 0).</summary>
    public const ushort SourceId = 0x3A08;

    /// <summary>IOVA where <see cref="MapPages"/> starts by default.</summary>
    public const ulong IovaBase = 0x4000_0000;

    /// <summary>Output addresses start here (translation never touches them).</summary>
    public const ulong OutputBase = 0x10_0000_0000;

    /// <summary>Builds memory, frames, the root table and an enabled unit (with <paramref name="options"/>, or the defaults).</summary>
    public EngineFixture(TranslationUnitOptions? options = null)
    {
        Memory = new SparsePhysicalMemory(SimLayout.RamBytes);
        Frames = new FrameAllocator(Memory, SimLayout.TableBase, SimLayout.TableLength);
        Tables = new SimPageTables(Memory, Frames);
        Unit = new TranslationUnit(Memory, options: options);
        Unit.SetRootTable(Tables.RootTable, RootTableMode.Scalable);
        Unit.TranslationEnabled = true;
    }

    /// <summary>The memory.</summary>
    public SparsePhysicalMemory Memory { get; }

    /// <summary>Frames for tables.</summary>
    public FrameAllocator Frames { get; }

    /// <summary>The programmer.</summary>
    public SimPageTables Tables { get; }

    /// <summary>The unit under test.</summary>
    public TranslationUnit Unit { get; }

    /// <summary>Creates a domain with DID <paramref name="domainId"/> and attaches (<see cref="SourceId"/>, <paramref name="pasid"/>) to it.</summary>
    public SimDomain AddDomain(ushort domainId, SimStage stage, uint pasid)
    {
        var domain = Tables.CreateDomain(domainId, stage);
        Tables.Attach(SourceId, pasid, domain);
        return domain;
    }

    /// <summary>Maps <paramref name="count"/> consecutive pages of <paramref name="size"/> from <paramref name="iova"/>.</summary>
    public void MapPages(SimDomain domain, int count, PageSize size = PageSize.Size4K, ulong iova = IovaBase, ulong output = OutputBase)
    {
        for (var i = 0; i < count; i++)
        {
            var offset = (ulong)i * size.Bytes();
            Tables.Map(domain, iova + offset, output + offset, size);
        }
    }

    /// <summary>A DMA read of <paramref name="iova"/> by (<see cref="SourceId"/>, <paramref name="pasid"/>).</summary>
    public static DmaRequest Read(uint pasid, ulong iova) => new(SourceId, iova, AccessKind.Read, pasid);

    /// <summary>Translates once and throws unless it succeeded: setup-time sanity so no benchmark measures a fault.</summary>
    public TranslationResult MustTranslate(in DmaRequest request)
    {
        var result = Unit.Translate(request);
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"Benchmark setup does not translate {request}: {result}.");
        }
        return result;
    }
}
