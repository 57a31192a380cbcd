namespace VtdEngine.Hardware;

/// <summary>IQERCD.IQEI: why hardware set FSTS.IQE and stopped fetching descriptors (VT-d §11.4, IQERCD_REG).</summary>
public enum InvalidationQueueErrorInfo : byte
{
    /// <summary>0: no detail (older hardware); also the value while IQE is clear.</summary>
    NotAvailable = 0,

    /// <summary>1: IQT points beyond the queue size in IQA.QS.</summary>
    InvalidTailPointer = 1,

    /// <summary>2: fetching the descriptor at IQH hit an error (unbacked memory).</summary>
    DescriptorFetchError = 2,

    /// <summary>3: the descriptor type is invalid (unknown, 256-bit-only in legacy mode, or its feature is absent).</summary>
    InvalidDescriptorType = 3,

    /// <summary>4: a reserved field is set, or a field holds a reserved encoding (granularity, AM beyond MAMV).</summary>
    ReservedFieldViolation = 4,

    /// <summary>5: the descriptor width in IQA.DW does not fit the mode (128-bit descriptors in scalable mode).</summary>
    InvalidDescriptorWidth = 5,

    /// <summary>6: IQT bit 4 is set while IQA.DW selects 256-bit descriptors.</summary>
    TailPointerNotAligned = 6,

    /// <summary>7: the latched translation table mode (TTM) is reserved or unsupported.</summary>
    InvalidTranslationTableMode = 7,
}
