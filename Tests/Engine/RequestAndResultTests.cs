using System.Runtime.CompilerServices;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Walker")]
public class RequestAndResultTests
{
    [Fact]
    public void ARequestIsSixteenBytesAndKeepsEveryField()
    {
        Assert.Equal(16, Unsafe.SizeOf<DmaRequest>());
        foreach (var access in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Atomic })
        {
            foreach (var type in new[] { AddressType.Untranslated, AddressType.TranslationRequest, AddressType.Translated })
            {
                foreach (var privileged in new[] { false, true })
                {
                    var request = new DmaRequest(0xABCD, 0x1234_5678_9ABC_DEF0, access, 0xF_FFFF, privileged, type);
                    Assert.Equal((0xABCD, 0x1234_5678_9ABC_DEF0UL, access, 0xF_FFFFu, privileged, type),
                        ((int)request.SourceId, request.Address, request.Access, request.Pasid, request.Privileged, request.AddressType));
                }
            }
        }
    }

    /// <summary>
    /// The words a first-level TLB compares: shape words are equal exactly when everything but the address is equal,
    /// requester words (the key of PDE-cache copies) exactly when everything but the address and the access kind is.
    /// </summary>
    [Fact]
    public void TheShapeWordHoldsExactlyEverythingButTheAddress()
    {
        var sources = new ushort[] { 0, 1, 0x00FF, 0x0100, 0xFFFF };
        var pasids = new uint[] { 0, 1, 0xF_FFFF, 0x10_0000, DmaRequest.NoPasid };
        var seen = new Dictionary<ulong, (ushort, uint, AddressType, AccessKind, bool)>();
        var requesters = new Dictionary<ulong, (ushort, uint, AddressType, bool)>();
        foreach (var source in sources)
        {
            foreach (var pasid in pasids)
            {
                foreach (var type in new[] { AddressType.Untranslated, AddressType.TranslationRequest, AddressType.Translated })
                {
                    foreach (var access in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Atomic })
                    {
                        foreach (var privileged in new[] { false, true })
                        {
                            var shape = (source, pasid, type, access, privileged);
                            var word = new DmaRequest(source, ~0UL, access, pasid, privileged, type).ShapeWord;
                            Assert.Equal(word, new DmaRequest(source, 0x1000, access, pasid, privileged, type).ShapeWord);
                            Assert.True(seen.TryAdd(word, shape), $"{shape} and {seen.GetValueOrDefault(word)} share a word");
                            var requester = (source, pasid, type, privileged);
                            var requesterWord = new DmaRequest(source, 0x1000, access, pasid, privileged, type).RequesterWord;
                            Assert.Equal(new DmaRequest(source, 0, AccessKind.Read, pasid, privileged, type).RequesterWord, requesterWord);
                            Assert.Equal(requester, requesters.GetValueOrDefault(requesterWord, requester));
                            requesters[requesterWord] = requester;
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void UndefinedAccessKindsAndAddressTypesAreRefused()
    {
        Assert.Equal("access", Assert.Throws<ArgumentOutOfRangeException>(() => new DmaRequest(1, 0, (AccessKind)3)).ParamName);
        Assert.Equal("addressType", Assert.Throws<ArgumentOutOfRangeException>(
            () => new DmaRequest(1, 0, AccessKind.Read, addressType: (AddressType)3)).ParamName);
    }

    [Fact]
    public void AResultIsSixteenBytesAndKeepsEveryField()
    {
        Assert.Equal(16, Unsafe.SizeOf<TranslationResult>());
        var result = new TranslationResult(0xFFFF_FFFF_FFFF_F123, TranslationStatus.Fault, FaultReason.SptNotPresent, PageSize.Size1G,
            AccessRights.Read | AccessRights.User, true, 0xFFFE, 255, 7);
        Assert.Equal((0xFFFF_FFFF_FFFF_F123UL, TranslationStatus.Fault, FaultReason.SptNotPresent, PageSize.Size1G,
            AccessRights.Read | AccessRights.User, true, (ushort)0xFFFE, (byte)255, (byte)7),
            (result.Address, result.Status, result.Fault, result.PageSize, result.Rights, result.FaultRecordingDisabled,
            result.DomainId, result.TableReads, result.FlagWrites));
        var other = new TranslationResult(0x1000, TranslationStatus.Interrupt, FaultReason.None, PageSize.Size4K, AccessRights.None, false, 0, 0, 0);
        Assert.Equal((TranslationStatus.Interrupt, false, (byte)0), (other.Status, other.FaultRecordingDisabled, other.TableReads));
    }
}
