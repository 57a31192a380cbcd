using System.Runtime.CompilerServices;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Walker")]
public class DmaRequestTests
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

    [Fact]
    public void UndefinedAccessKindsAndAddressTypesAreRefused()
    {
        Assert.Equal("access", Assert.Throws<ArgumentOutOfRangeException>(() => new DmaRequest(1, 0, (AccessKind)3)).ParamName);
        Assert.Equal("addressType", Assert.Throws<ArgumentOutOfRangeException>(
            () => new DmaRequest(1, 0, AccessKind.Read, addressType: (AddressType)3)).ParamName);
    }
}
