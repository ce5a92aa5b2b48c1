import Foundation

/// A small, tolerant XML reader for the metadata scanners embed in ImageDescription
/// (OME-XML, PerkinElmer-QPI). It ignores the declared encoding — QPTIFF files often
/// declare UTF-16 while the bytes are ASCII — and decodes from the bytes instead.
/// Not a validating parser: comments, processing instructions, CDATA and DOCTYPE are
/// skipped; entities &lt; &gt; &amp; &quot; &apos; and numeric ones are decoded.
public struct XMLElement: Sendable {
    public var name: String
    public var attributes: [String: String] = [:]
    public var children: [XMLElement] = []
    public var text = ""

    /// Local name without a namespace prefix.
    public var localName: String { name.split(separator: ":").last.map(String.init) ?? name }

    public func child(_ n: String) -> XMLElement? { children.first { $0.localName == n } }

    /// Depth-first search for every element with this local name.
    public func descendants(_ n: String) -> [XMLElement] {
        var out: [XMLElement] = []
        for c in children {
            if c.localName == n { out.append(c) }
            out += c.descendants(n)
        }
        return out
    }

    public func descendant(_ n: String) -> XMLElement? {
        for c in children {
            if c.localName == n { return c }
            if let d = c.descendant(n) { return d }
        }
        return nil
    }

    public var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}

public enum XML {
    /// Text made safe for XML (and HTML or SVG) content and attribute values.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Decodes bytes to text: UTF-16 with a BOM, UTF-16 detected by NUL bytes, else UTF-8.
    public static func decode(_ bytes: [UInt8]) -> String {
        if bytes.count >= 2 {
            if bytes[0] == 0xFF && bytes[1] == 0xFE {
                return String(decoding: utf16(bytes.dropFirst(2), littleEndian: true), as: UTF16.self)
            }
            if bytes[0] == 0xFE && bytes[1] == 0xFF {
                return String(decoding: utf16(bytes.dropFirst(2), littleEndian: false), as: UTF16.self)
            }
            if bytes[0] == 0x3C && bytes[1] == 0 {
                return String(decoding: utf16(bytes[...], littleEndian: true), as: UTF16.self)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func utf16(_ b: ArraySlice<UInt8>, littleEndian: Bool) -> [UInt16] {
        var units: [UInt16] = []
        units.reserveCapacity(b.count / 2)
        var i = b.startIndex
        while i + 1 < b.endIndex {
            let lo = UInt16(b[i]), hi = UInt16(b[i + 1])
            units.append(littleEndian ? (hi << 8 | lo) : (lo << 8 | hi))
            i += 2
        }
        return units
    }

    /// Parses the first root element; nil when the text holds no element.
    public static func parse(_ text: String) -> XMLElement? {
        var p = Parser(Array(text.unicodeScalars))
        return p.document()
    }

    static func unescape(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";"), s.distance(from: i, to: semi) <= 10 {
                let entity = s[s.index(after: i)..<semi]
                var replacement: String?
                switch entity {
                case "lt": replacement = "<"
                case "gt": replacement = ">"
                case "amp": replacement = "&"
                case "quot": replacement = "\""
                case "apos": replacement = "'"
                default:
                    if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                        replacement = String(Character(u))
                    } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = Unicode.Scalar(v) {
                        replacement = String(Character(u))
                    }
                }
                if let replacement {
                    out += replacement
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }

        mutating func document() -> XMLElement? {
            while i < s.count {
                guard let lt = find("<") else { return nil }
                i = lt
                if starts("<?") { skip(past: "?>"); continue }
                if starts("<!--") { skip(past: "-->"); continue }
                if starts("<!") { skip(past: ">"); continue }
                return element()
            }
            return nil
        }

        func starts(_ t: String) -> Bool {
            var k = i
            for u in t.unicodeScalars {
                if k >= s.count || s[k] != u { return false }
                k += 1
            }
            return true
        }
        func find(_ c: Unicode.Scalar) -> Int? {
            var k = i
            while k < s.count { if s[k] == c { return k }; k += 1 }
            return nil
        }
        mutating func skip(past t: String) {
            while i < s.count && !starts(t) { i += 1 }
            i = min(s.count, i + t.unicodeScalars.count)
        }
        mutating func skipSpace() { while i < s.count && s[i].properties.isWhitespace { i += 1 } }
        mutating func name() -> String {
            var out = String.UnicodeScalarView()
            while i < s.count {
                let c = s[i]
                if c.properties.isWhitespace || c == ">" || c == "/" || c == "=" { break }
                out.append(c); i += 1
            }
            return String(out)
        }

        /// Elements nested deeper than this end the document (no metadata or annotation file
        /// nests so deep; a damaged one would otherwise exhaust the stack).
        static let maxDepth = 256
        var depth = 0

        /// At "<name"; returns the element with its subtree, tolerating unclosed tags at EOF.
        mutating func element() -> XMLElement? {
            depth += 1
            defer { depth -= 1 }
            if depth > Self.maxDepth { i = s.count; return nil }
            i += 1
            var el = XMLElement(name: name())
            // attributes
            while i < s.count {
                skipSpace()
                if i >= s.count { return el }
                if s[i] == "/" { skip(past: ">"); return el }
                if s[i] == ">" { i += 1; break }
                let key = name()
                skipSpace()
                var value = ""
                if i < s.count && s[i] == "=" {
                    i += 1; skipSpace()
                    if i < s.count, s[i] == "\"" || s[i] == "'" {
                        let q = s[i]; i += 1
                        var v = String.UnicodeScalarView()
                        while i < s.count && s[i] != q { v.append(s[i]); i += 1 }
                        i += 1
                        value = XML.unescape(Substring(String(v)))
                    } else {
                        value = name()
                    }
                }
                if key.isEmpty { i += 1; continue }
                el.attributes[key] = value
            }
            // content
            var text = String.UnicodeScalarView()
            while i < s.count {
                if s[i] != "<" { text.append(s[i]); i += 1; continue }
                if starts("</") {
                    skip(past: ">")
                    el.text = XML.unescape(Substring(String(text)))
                    return el
                }
                if starts("<!--") { skip(past: "-->"); continue }
                if starts("<![CDATA[") {
                    i += 9
                    while i < s.count && !starts("]]>") { text.append(s[i]); i += 1 }
                    i = min(s.count, i + 3)
                    continue
                }
                if starts("<?") || starts("<!") { skip(past: ">"); continue }
                if let c = element() { el.children.append(c) }
            }
            el.text = XML.unescape(Substring(String(text)))
            return el
        }
    }
}
