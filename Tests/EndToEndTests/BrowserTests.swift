import Foundation
import Synchronization
import TestSupport
import Testing

/// The HTML report in a real browser: headless Chromium (installed by `make test` from Debian's
/// packages) renders it to a PNG, and the page's layout self-check reports every chart's size and
/// any script or console error.
enum Browser {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}

struct BrowserTests {
    func chromium(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Browser.path!)
        p.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--user-data-dir=\(try makeTemporaryDirectory("chromium-profile"))"] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes while the browser runs (the DOM dump can exceed a pipe buffer).
        // The semaphore orders the reader's write before the read below (ThreadSanitizer flagged polling isFinished).
        let errData = Mutex(Data())
        let finished = DispatchSemaphore(value: 0)
        let reader = Thread {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = data }
            finished.signal()
        }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        finished.wait()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    @Test(.enabled(if: Browser.path != nil,
                   "Chromium is not installed: `make test` installs it (apt-get install chromium); without it this check is skipped"))
    func theReportRendersWithEveryChartSizedAndNoErrors() throws {
        let dir = try makeTemporaryDirectory("e2e-browser")
        let config = try makeDemoConfig(in: dir)
        // Two snapshots, so the migration matrix is drawn too.
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        #expect(try runCVM(["run", config]).status == 0)
        let page = "\(dir)/report/index.html"
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let declared = html.components(separatedBy: "<svg class=\"chart\"").count - 1
        #expect(declared >= 10, "the demo report draws at least 10 charts, found \(declared)")

        let png = "\(dir)/report.png"
        let shot = try chromium(["--screenshot=\(png)", "--window-size=1280,6000", "--hide-scrollbars", "file://\(page)"])
        #expect(shot.status == 0, "\(shot.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.count > 20_000 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG of a rendered page")

        let dom = try chromium(["--dump-dom", "--virtual-time-budget=3000", "--enable-logging=stderr", "--v=0", "file://\(page)"])
        #expect(dom.status == 0, "\(dom.stderr)")
        let check = try #require(dom.stdout.components(separatedBy: "<pre id=\"layout-check\" hidden=\"\">").dropFirst().first?
            .components(separatedBy: "</pre>").first, "the page's layout check did not run")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(check.replacingOccurrences(of: "&quot;", with: "\"").utf8)) as? [String: Any])
        let charts = try #require(json["charts"] as? [[String: Any]])
        #expect(charts.count == declared)
        for c in charts {
            #expect((c["width"] as? Int ?? 0) > 0 && (c["height"] as? Int ?? 0) > 0, "chart \(c["label"] ?? "?") has no size")
        }
        #expect((json["errors"] as? [Any])?.isEmpty == true, "script errors: \(json["errors"] ?? "")")
        let consoleErrors = dom.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") && ($0.contains("ERROR") || $0.contains("Uncaught")) }
        #expect(consoleErrors.isEmpty, "console: \(consoleErrors)")
    }
}
