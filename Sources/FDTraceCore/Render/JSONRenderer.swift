import Foundation

/// The machine-readable report (schema in the README).
public enum JSONRenderer {
    public static func render(_ report: Report) throws -> Data { try encode(report) }

    /// Any of fdtrace's JSON documents, in the same style (snake_case keys).
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(value)
    }

    public static func decode(_ data: Data) throws -> Report {
        try decode(Report.self, from: data)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        return try dec.decode(type, from: data)
    }
}
