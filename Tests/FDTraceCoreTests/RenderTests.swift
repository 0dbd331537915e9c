@testable import FDTraceCore
import Foundation
import Testing

@Suite struct RenderTests {
    @Test("SHA-256 of the FIPS 180-4 examples")
    func sha256() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("Paths in SARIF URIs are percent-encoded")
    func uriEncoding() {
        #expect(SARIFRenderer.encode("/a b/<x>&é.c") == "/a%20b/%3Cx%3E%26%C3%A9.c")
        #expect(SARIFRenderer.encode("src/main-1_2.~c") == "src/main-1_2.~c")
    }
}
