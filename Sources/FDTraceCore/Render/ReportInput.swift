import Foundation

/// Reads a report saved with --json (or a snapshot's JSON) for `fdtrace
/// report`: each way it can be wrong is one line naming the file.
public enum ReportInput {
    /// The file cannot be read (EX_NOINPUT).
    public static let unreadable: Int32 = 66
    /// The file is not an fdtrace report (EX_DATAERR).
    public static let notAReport: Int32 = 65

    public static func load(_ path: String) throws -> Report {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var st = stat()
            let why: String
            if stat(path, &st) != 0 {
                why = String(cString: strerror(errno))
            } else if st.st_mode & S_IFMT == S_IFDIR {
                why = "it is a directory"
            } else {
                why = access(path, R_OK) != 0 ? String(cString: strerror(errno)) : "read failed"
            }
            throw FDTraceError("cannot read \(path): \(why)", status: unreadable)
        }
        return try decode(data, name: path)
    }

    public static func decode(_ data: Data, name: String) throws -> Report {
        guard !data.isEmpty else { throw FDTraceError("\(name) is empty, not a JSON report", status: notAReport) }
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw FDTraceError("\(name) is not JSON (an fdtrace report is written by --json)", status: notAReport)
        }
        guard let object = top as? [String: Any] else {
            throw FDTraceError("\(name) is not an fdtrace report (JSON, but not an object)", status: notAReport)
        }
        if let version = object["version"] as? Int, version != 1 {
            throw FDTraceError("\(name) is a report of version \(version); this fdtrace reads version 1", status: notAReport)
        }
        do {
            return try JSONRenderer.decode(data)
        } catch let e as DecodingError {
            throw FDTraceError("\(name) is not an fdtrace report: \(describe(e))", status: notAReport)
        } catch {
            throw FDTraceError("\(name) is not an fdtrace report: \(error)", status: notAReport)
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let key, let ctx):
            return "'\(path(ctx.codingPath + [key]))' is missing"
        case .typeMismatch(let type, let ctx):
            return "'\(path(ctx.codingPath))' is not \(typeName(type))"
        case .valueNotFound(let type, let ctx):
            return "'\(path(ctx.codingPath))' is null, not \(typeName(type))"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? ctx.debugDescription : "'\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default:
            return "\(e)"
        }
    }

    /// processes[0].exit_status, as the JSON spells it.
    static func path(_ keys: [CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue { out += "[\(i)]"; continue }
            let name = k.stringValue.reduce(into: "") { s, c in
                if c.isUppercase { s += "_" + c.lowercased() } else { s.append(c) }
            }
            out += out.isEmpty ? name : "." + name
        }
        return out.isEmpty ? "the document" : out
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int32.Type, is UInt64.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            return "\(type)".hasPrefix("Array") ? "a list" : "an object"
        }
    }
}
