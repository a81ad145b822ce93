import CVMCore

/// The config settings each stage's outputs depend on, recorded with them (`ArtifactStore.settingsFile`).
///
/// A stage run alone (`--from`, `--only`) reads earlier outputs; when the config changed since they were built, they
/// no longer say what it declares (a `divide_by: 100` added after extract left clean reading amounts a hundred times
/// too big; a new `min` left `--from features` on rows the rule now rejects). The run then refuses them and names
/// the stage to run from, as for outputs of different runs (`Runner.checkLineage`).
///
/// Settings are the config's key paths (`ConfigDecoder.settings`); a stage's are those whose change would change its
/// tables. Settings of a stage's inputs are not repeated: they are checked on the inputs' own record.
public enum StageSettings {
    /// The settings of `all` that `stage`'s outputs depend on.
    public static func of(_ stage: StageName, in all: [String: String]) -> [String: String] {
        all.filter { stages(of: $0.key).contains(stage) }
    }

    /// The stages whose outputs a setting shapes (none: paths, threads, campaigns, budgets, which change no table).
    public static func stages(of key: String) -> Set<StageName> {
        let p = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch p.first {
        // Sources are cleaned in config order where references allow (placeholders go to later sources).
        case "sources (order)": return [.clean]
        case "sources":
            // A key not known (a newer cvm's) counts as extract's: the safe side, since every stage is built on it.
            guard p.count >= 3 else { return [.extract] }
            if p[2] == "columns", p.count >= 5 {
                if ColumnDecl.cleanKeys.contains(p[4]) { return [.clean] }
                return ColumnDecl.sharedKeys.contains(p[4]) ? [.extract, .clean] : [.extract]
            }
            if SourceSpec.budgetKeys.contains(p[2]) { return [] }
            if SourceSpec.cleanKeys.contains(p[2]) { return [.clean] }
            return SourceSpec.sharedKeys.contains(p[2]) ? [.extract, .clean] : [.extract]
        case "stages":
            guard p.count >= 2 else { return [] }
            switch p[1] {
            // Clean cuts sessions and the as-of window at the end of the day in the features' zone.
            // memory_limit_mb bounds the work's memory, not its result.
            case "features": return p.count >= 3 && p[2] == "zone" ? [.clean, .features] : p.count >= 3 && p[2] == "memory_limit_mb" ? [] : [.features]
            case "clean": return [.clean]
            case "cluster": return [.cluster]
            case "value": return [.value]
            case "load": return [.load]
            default: return []
            }
        // Personal columns show no values in clean's profile; the load pseudonymises them.
        case "privacy": return p.count >= 2 && p[1] == "pseudonymize" ? [.clean, .load] : []
        case "seed": return [.cluster]
        default: return []
        }
    }

    /// The settings that differ between a record and now, as `key (old there, new now)`, sorted by key.
    public static func changes(recorded: [String: String], now: [String: String]) -> [String] {
        // Quoted where the text alone would not read as a value (empty, blanks, a lone delimiter).
        func shown(_ v: String?) -> String {
            guard let v else { return "not set" }
            let bare = !v.isEmpty && (v.hasPrefix("[") || v.hasPrefix("{") || v.allSatisfy { $0.isLetter || $0.isNumber || "._-+:/*".contains($0) })
            return bare ? v : "\"" + v + "\""
        }
        return Set(recorded.keys).union(now.keys).sorted().compactMap { k in
            recorded[k] == now[k] ? nil : "\(k) (\(shown(recorded[k])) there, \(shown(now[k])) now)"
        }
    }
}
