using System.Buffers.Binary;
using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Fuzzing;

/// <summary>
/// Target (b), the queue target: a <see cref="FuzzImage"/> plus 12-byte operations that drive a
/// <see cref="RemappingHardwareUnit"/> purely through its registers and memory (register reads and writes, qwords
/// stored into the invalidation queue and the tables, DMA probes, platform reset). Oracle: no access ever throws, and
/// after every operation the register state is self-consistent.
/// </summary>
/// <remarks>
/// <para>
/// Operation bytes: b0 bits 2:0 the kind. 0 and 1: dword or qword register write, b1 the register (an index into
/// <see cref="Registers"/>, or past its end a raw offset <c>4·b1 + (b0 bits 6:5)</c> that may be misaligned), b2..b9
/// the value. 2: register read (b1 as for writes, b2 bit 0 qword). 3: a qword stored at
/// <c><see cref="QueueBase"/> + 8·b1</c> (the first 2 KiB of the queue: 128 narrow or 64 wide descriptors), value
/// b2..b9. 4: a qword stored into image slot b1, value b2..b9. 5: a DMA probe, b1 indexing
/// <see cref="InvalidateInput.Probes"/>. 6: IQT ← 16·b1 (a doorbell). 7: platform reset.
/// </para>
/// <para>
/// The invariants checked after every operation: IQH and IQT have only bits 18:4, IQH lies inside the queue IQA
/// describes and is 32-byte aligned with 256-bit descriptors; GSTS.TES, GSTS.QIES and the latched root table agree
/// with the translation unit; FSTS.PPF is set exactly when some FRCD has F set; FSTS.FRI names an existing FRCD.
/// </para>
/// </remarks>
public static class QueueRegisterInput
{
    /// <summary>Bytes per operation.</summary>
    public const int OpBytes = 12;

    /// <summary>Operations decoded at most.</summary>
    public const int MaxOps = 64;

    /// <summary>The invalidation queue the seeds program (frame 32; queue sizes beyond 64 KiB reach unbacked memory).</summary>
    public const ulong QueueBase = 0x20000;

    /// <summary>Where the seeds' wait descriptors write their status.</summary>
    public const ulong StatusPage = 0x30000;

    /// <summary>The registers operations name by index.</summary>
    public static IReadOnlyList<int> Registers { get; } =
    [
        RegisterOffsets.Gcmd, RegisterOffsets.Gsts, RegisterOffsets.Rtaddr, RegisterOffsets.Rtaddr + 4, RegisterOffsets.Ccmd,
        RegisterOffsets.Ccmd + 4, RegisterOffsets.Fsts, RegisterOffsets.Fectl, RegisterOffsets.Fedata, RegisterOffsets.Feaddr,
        RegisterOffsets.Feuaddr, RegisterOffsets.Iqh, RegisterOffsets.Iqt, RegisterOffsets.Iqa, RegisterOffsets.Iqa + 4,
        RegisterOffsets.Ics, RegisterOffsets.Iectl, RegisterOffsets.Iedata, RegisterOffsets.Ieaddr, RegisterOffsets.Ieuaddr,
        RegisterOffsets.Iqercd, RegisterOffsets.Ver, RegisterOffsets.Cap, RegisterOffsets.Ecap,
        // IVA, IOTLB and the FRCDs sit at capability-defined offsets (default profile: 16·0x10 and 16·0x22).
        0x100, 0x108, 0x10C, 0x220, 0x228, 0x22C, 0x230, 0x238, 0x23C,
    ];

    /// <summary>Runs an input; returns the number of operations executed.</summary>
    public static int Run(ReadOnlySpan<byte> input, Action<string>? log = null)
    {
        var image = FuzzImage.Decode(input, out var rest);
        var memory = image.CreateMemory();
        var hardware = new RemappingHardwareUnit(memory, image.Profile);
        var interrupts = 0;
        hardware.Interrupt += _ => interrupts++;
        var executed = 0;
        while (rest.Length >= OpBytes && executed < MaxOps)
        {
            var op = rest[..OpBytes];
            rest = rest[OpBytes..];
            Execute(hardware, image, op, log);
            executed++;
            CheckInvariants(hardware, op);
        }
        return executed;
    }

    private static int Offset(ReadOnlySpan<byte> op) =>
        op[1] < Registers.Count ? Registers[op[1]] : (op[1] * 4) + ((op[0] >> 5) & 3);

    private static void Execute(RemappingHardwareUnit hardware, FuzzImage image, ReadOnlySpan<byte> op, Action<string>? log)
    {
        var value = BinaryPrimitives.ReadUInt64LittleEndian(op[2..10]);
        switch (op[0] & 7)
        {
            case 0:
                log?.Invoke($"write32 0x{Offset(op):x} = 0x{(uint)value:x}");
                hardware.WriteRegister32((ulong)Offset(op), (uint)value);
                break;
            case 1:
                log?.Invoke($"write64 0x{Offset(op):x} = 0x{value:x}");
                hardware.WriteRegister64((ulong)Offset(op), value);
                break;
            case 2:
                _ = (op[2] & 1) != 0 ? hardware.ReadRegister64((ulong)Offset(op)) : hardware.ReadRegister32((ulong)Offset(op));
                break;
            case 3:
                log?.Invoke($"queue[0x{op[1] * 8:x}] = 0x{value:x}");
                hardware.Memory.Write64(QueueBase + ((ulong)op[1] * 8), value);
                break;
            case 4:
                hardware.Memory.Write64(image.SlotAddresses[op[1] % image.SlotAddresses.Count], value);
                break;
            case 5:
                var probe = InvalidateInput.Probes[op[1] % InvalidateInput.Probes.Count].Request;
                var result = hardware.Translate(probe);
                log?.Invoke($"probe {probe} => {result}");
                break;
            case 6:
                log?.Invoke($"IQT = 0x{op[1] * 16:x}");
                hardware.WriteRegister64(RegisterOffsets.Iqt, (ulong)op[1] * 16);
                break;
            default:
                log?.Invoke("reset");
                hardware.Reset();
                break;
        }
    }

    private static void CheckInvariants(RemappingHardwareUnit hardware, ReadOnlySpan<byte> op)
    {
        var iqh = hardware.ReadRegister64(RegisterOffsets.Iqh);
        var iqt = hardware.ReadRegister64(RegisterOffsets.Iqt);
        var iqa = hardware.ReadRegister64(RegisterOffsets.Iqa);
        var queueBytes = 4096UL << (int)(iqa & 7);
        var wide = (iqa & (1UL << 11)) != 0;
        var gsts = (GlobalStatus)hardware.ReadRegister32(RegisterOffsets.Gsts);
        var fsts = hardware.ReadRegister32(RegisterOffsets.Fsts);
        string? broken = null;
        if ((iqh & ~0x7FFF0UL) != 0 || (iqt & ~0x7FFF0UL) != 0)
        {
            broken = $"IQH 0x{iqh:x} or IQT 0x{iqt:x} has bits outside 18:4";
        }
        else if (iqh >= queueBytes)
        {
            broken = $"IQH 0x{iqh:x} lies beyond the {queueBytes}-byte queue (IQA 0x{iqa:x})";
        }
        else if (wide && (iqh & 0x10) != 0)
        {
            broken = $"IQH 0x{iqh:x} is not 32-byte aligned with 256-bit descriptors";
        }
        else if (((gsts & GlobalStatus.TranslationEnableStatus) != 0) != hardware.Unit.TranslationEnabled)
        {
            broken = $"GSTS 0x{(uint)gsts:x} disagrees with TranslationEnabled={hardware.Unit.TranslationEnabled}";
        }
        else if ((hardware.Unit.RootTableAddress & 0xFFF) != 0)
        {
            broken = $"the latched root table 0x{hardware.Unit.RootTableAddress:x} is not page aligned";
        }
        else if (((fsts >> 8) & 0xFF) >= (uint)hardware.FaultRecordingRegisterCount)
        {
            broken = $"FSTS.FRI {(fsts >> 8) & 0xFF} names no FRCD (there are {hardware.FaultRecordingRegisterCount})";
        }
        else
        {
            var anyPending = false;
            for (var i = 0; i < hardware.FaultRecordingRegisterCount; i++)
            {
                anyPending |= (hardware.ReadRegister32((ulong)hardware.FaultRecordingRegisterOffset(i) + 12) & (1u << 31)) != 0;
            }
            if (anyPending != ((fsts & (uint)FaultStatus.PrimaryPendingFault) != 0))
            {
                broken = $"FSTS.PPF is {(fsts >> 1) & 1} but an FRCD with F set {(anyPending ? "exists" : "does not exist")}";
            }
        }
        if (broken is not null)
        {
            throw new OracleViolationException($"After operation {Convert.ToHexString(op)}: {broken}.");
        }
    }

    /// <summary>Encodes a register write.</summary>
    public static byte[] EncodeWrite(int offset, ulong value, bool qword = true)
    {
        var index = -1;
        for (var i = 0; i < Registers.Count; i++)
        {
            if (Registers[i] == offset)
            {
                index = i;
                break;
            }
        }
        if (index < 0)
        {
            throw new ArgumentException($"Register 0x{offset:x} has no index.", nameof(offset));
        }
        var bytes = new byte[OpBytes];
        bytes[0] = (byte)(qword ? 1 : 0);
        bytes[1] = (byte)index;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(2, 8), value);
        return bytes;
    }

    /// <summary>Encodes the stores of a descriptor into queue slot <paramref name="slot"/> (16 or 32 bytes each).</summary>
    public static IEnumerable<byte[]> EncodeDescriptor(int slot, InvalidationDescriptor descriptor, bool wide)
    {
        var qwords = wide ? new[] { descriptor.Q0, descriptor.Q1, descriptor.Q2, descriptor.Q3 } : [descriptor.Q0, descriptor.Q1];
        for (var q = 0; q < qwords.Length; q++)
        {
            var bytes = new byte[OpBytes];
            bytes[0] = 3;
            bytes[1] = (byte)((slot * qwords.Length) + q);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(2, 8), qwords[q]);
            yield return bytes;
        }
    }

    /// <summary>Encodes a probe, a doorbell or a reset.</summary>
    public static byte[] EncodeSimple(int kind, int argument = 0)
    {
        var bytes = new byte[OpBytes];
        bytes[0] = (byte)kind;
        bytes[1] = (byte)argument;
        return bytes;
    }

    /// <summary>The queue target's seeds: a Linux-style boot through registers, descriptors and faults, in both modes.</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> Seeds() =>
    [
        ("scalable-boot", Boot(RootTableMode.Scalable, SeedCorpus.ScalableImage())),
        ("legacy-boot", Boot(RootTableMode.Legacy, SeedCorpus.LegacyImage())),
    ];

    private static byte[] Boot(RootTableMode mode, Dictionary<ulong, ulong> qwords)
    {
        var wide = mode == RootTableMode.Scalable;
        var ops = new List<byte[]>
        {
            EncodeWrite(RegisterOffsets.Rtaddr, FuzzImage.RootTable | ((ulong)mode << 10)),
            EncodeWrite(RegisterOffsets.Gcmd, (uint)GlobalCommand.SetRootTablePointer, qword: false),
            EncodeWrite(RegisterOffsets.Iqa, QueueBase | (wide ? 1UL << 11 : 0)),
            EncodeWrite(RegisterOffsets.Gcmd, (uint)GlobalCommand.QueuedInvalidationEnable, qword: false),
            EncodeWrite(RegisterOffsets.Fectl, 0, qword: false),
            EncodeWrite(RegisterOffsets.Iectl, 0, qword: false),
        };
        var descriptors = new List<InvalidationDescriptor>
        {
            InvalidationDescriptor.Encode(InvalidationRequest.ContextCacheGlobal()),
            InvalidationDescriptor.Encode(InvalidationRequest.IotlbGlobal()),
            InvalidationDescriptor.Wait(StatusPage, 1, statusWrite: true, interrupt: true),
        };
        if (wide)
        {
            descriptors.Insert(1, InvalidationDescriptor.Encode(InvalidationRequest.PasidCacheGlobal()));
        }
        for (var i = 0; i < descriptors.Count; i++)
        {
            ops.AddRange(EncodeDescriptor(i, descriptors[i], wide));
        }
        ops.Add(EncodeSimple(6, descriptors.Count * (wide ? 2 : 1)));
        ops.Add(EncodeWrite(RegisterOffsets.Gcmd, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.TranslationEnable), qword: false));
        for (var p = 0; p < 6; p++)
        {
            ops.Add(EncodeSimple(5, p * 4));
        }
        ops.Add(EncodeWrite(RegisterOffsets.Ics, 1, qword: false));
        ops.Add(EncodeWrite(RegisterOffsets.Fsts, 0x7F, qword: false));
        // A page-selective IOTLB descriptor, then an invalid one (reserved type) that stops the queue with IQE.
        var next = descriptors.Count;
        ops.AddRange(EncodeDescriptor(next, InvalidationDescriptor.Encode(InvalidationRequest.IotlbPage(1, 0x1000)), wide));
        ops.AddRange(EncodeDescriptor(next + 1, new InvalidationDescriptor(0xF, 0), wide));
        ops.Add(EncodeSimple(6, (next + 2) * (wide ? 2 : 1)));
        ops.Add(EncodeWrite(RegisterOffsets.Fsts, 0x10, qword: false));
        ops.Add(EncodeWrite(RegisterOffsets.Iqa, QueueBase | 3 | (wide ? 1UL << 11 : 0)));
        ops.Add(EncodeSimple(7));
        return [.. SeedCorpus.Image(mode, qwords), .. ops.SelectMany(o => o)];
    }
}
