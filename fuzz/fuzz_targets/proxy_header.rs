//! The PROXY protocol header a trusted proxy sends before the client's bytes: parsing must
//! never panic, a header found must lie within the input and be found at the same length
//! from its own bytes, one byte less must be `Incomplete`, and what it says must survive
//! being encoded again (v1 and v2) and parsed back.
#![no_main]

use ballast_l4::proxy_protocol::{encode, parse, Parsed, ProxyVersion, Tlvs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(found @ Parsed::Complete { consumed, .. }) = parse(data) else {
        return;
    };
    assert!(consumed <= data.len());
    assert_eq!(parse(&data[..consumed]).as_ref(), Ok(&found));
    assert_eq!(parse(&data[..consumed - 1]), Ok(Parsed::Incomplete));
    let Parsed::Complete {
        addresses: Some(addresses),
        authority,
        ..
    } = found
    else {
        return;
    };
    // Both endpoints came in one family, so encoding maps nothing.
    let tlvs = Tlvs {
        authority: authority.as_deref(),
        alpn: None,
    };
    for (version, authority) in [
        (ProxyVersion::V1, None),
        (ProxyVersion::V2, authority.clone()),
    ] {
        let mut header = Vec::new();
        encode(version, &addresses, &tlvs, &mut header);
        let expected = Parsed::Complete {
            addresses: Some(addresses),
            authority,
            consumed: header.len(),
        };
        assert_eq!(parse(&header), Ok(expected));
    }
});
