import Foundation
/// Finds the line of a setting in the configuration text, so an error can point at it.
///
/// TOMLKit reports lines for syntax errors only; for a value that parses but is wrong, this
/// walks the lines for the table header (`[http]`, the n-th `[[zones]]`) and then the key.
/// It reads no values: a setting it cannot find (written as a dotted key or an inline table)
/// is reported by its path alone.
struct ConfigurationLineLocator {
    let lines: [Substring]

    init(text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The 1-based line of `key` in table `table` (the `index`-th when the table is an array of
    /// tables), or of the table header when `key` is nil.
    func line(table: String?, index: Int? = nil, key: String?) -> Int? {
        var inTable = table == nil
        var seen = -1
        for (number, raw) in lines.enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let header = line.prefix { $0 != "#" }.filter { $0 != " " && $0 != "\t" }
                if let table, header == "[[\(table)]]" {
                    seen += 1
                    inTable = seen == (index ?? 0)
                } else if let table, header == "[\(table)]" {
                    inTable = true
                } else {
                    inTable = false
                }
                if inTable, key == nil { return number + 1 }
                continue
            }
            guard inTable, let key else { continue }
            let name = line.prefix { $0 != "=" }.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
            if name == key, line.contains("=") { return number + 1 }
        }
        return nil
    }
}
