// The Extract stage module. See DESIGN.md.
// TEMPORARY placeholder (main only) until the extract branch lands.
public func expandGlob(_ pattern: String, baseDirectory: String) throws -> [String] { [] }
