namespace VtdEngine.Hardware;

/// <summary>
/// Byte offsets of the remapping hardware registers in the unit's MMIO window (VT-d §11.4). The IOTLB registers and the
/// fault-recording registers move with ECAP.IRO and CAP.FRO; <see cref="RemappingHardwareUnit"/> reports where they are.
/// </summary>
public static class RegisterOffsets
{
    /// <summary>VER_REG: architecture version (32 bit, RO).</summary>
    public const int Ver = 0x00;

    /// <summary>CAP_REG: capabilities (64 bit, RO).</summary>
    public const int Cap = 0x08;

    /// <summary>ECAP_REG: extended capabilities (64 bit, RO).</summary>
    public const int Ecap = 0x10;

    /// <summary>GCMD_REG: global command (32 bit, WO; reads 0).</summary>
    public const int Gcmd = 0x18;

    /// <summary>GSTS_REG: global status (32 bit, RO).</summary>
    public const int Gsts = 0x1C;

    /// <summary>RTADDR_REG: root table address and TTM (64 bit); takes effect on GCMD.SRTP.</summary>
    public const int Rtaddr = 0x20;

    /// <summary>CCMD_REG: register-based context-cache invalidation (64 bit).</summary>
    public const int Ccmd = 0x28;

    /// <summary>FSTS_REG: fault status (32 bit).</summary>
    public const int Fsts = 0x34;

    /// <summary>FECTL_REG: fault event control, IM and IP (32 bit).</summary>
    public const int Fectl = 0x38;

    /// <summary>FEDATA_REG: fault event interrupt message data (32 bit).</summary>
    public const int Fedata = 0x3C;

    /// <summary>FEADDR_REG: fault event interrupt message address (32 bit).</summary>
    public const int Feaddr = 0x40;

    /// <summary>FEUADDR_REG: fault event interrupt message upper address (32 bit).</summary>
    public const int Feuaddr = 0x44;

    /// <summary>IQH_REG: invalidation queue head (64 bit, RO).</summary>
    public const int Iqh = 0x80;

    /// <summary>IQT_REG: invalidation queue tail (64 bit); writing it makes hardware fetch descriptors.</summary>
    public const int Iqt = 0x88;

    /// <summary>IQA_REG: invalidation queue base, descriptor width and size (64 bit).</summary>
    public const int Iqa = 0x90;

    /// <summary>ICS_REG: invalidation completion status, IWC (32 bit).</summary>
    public const int Ics = 0x9C;

    /// <summary>IECTL_REG: invalidation completion event control, IM and IP (32 bit).</summary>
    public const int Iectl = 0xA0;

    /// <summary>IEDATA_REG: invalidation completion interrupt message data (32 bit).</summary>
    public const int Iedata = 0xA4;

    /// <summary>IEADDR_REG: invalidation completion interrupt message address (32 bit).</summary>
    public const int Ieaddr = 0xA8;

    /// <summary>IEUADDR_REG: invalidation completion interrupt message upper address (32 bit).</summary>
    public const int Ieuaddr = 0xAC;

    /// <summary>IQERCD_REG: invalidation queue error record, IQEI (64 bit, RO).</summary>
    public const int Iqercd = 0xB0;
}
