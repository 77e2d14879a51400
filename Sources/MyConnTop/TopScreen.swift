#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import CNcurses

/// The terminal, through ncurses: it owns the terminal from ``init()`` to ``end()``, which
/// restores it (and runs once, from every way out). Every string drawn here has been through
/// the terminal escaper already.
final class TopScreen {
    private var ended = false
    let colors: Bool
    /// Whether the locale's character set is UTF-8; if not, every character outside ASCII is
    /// drawn as "?" (ncurses would draw its bytes, each a column, and the rows would not align).
    let utf8: Bool

    enum Pair: Int16 {
        case red = 1, yellow, green, magenta, banner, cyan
    }

    init(colorAllowed: Bool) {
        setlocale(LC_ALL, "")
        utf8 = String(cString: nl_langinfo(nl_item(CODESET))) == "UTF-8"
        initscr()
        cbreak()
        noecho()
        keypad(stdscr, true)
        curs_set(0)
        // getch() waits at most 50 ms: a key is answered within that, refresh or not.
        timeout(50)
        // ESC alone is a key here (it cancels), not the start of a sequence to wait 1 s for.
        set_escdelay(25)
        colors = colorAllowed && has_colors()
        if colors {
            start_color()
            use_default_colors()
            init_pair(Pair.red.rawValue, Int16(COLOR_RED), -1)
            init_pair(Pair.yellow.rawValue, Int16(COLOR_YELLOW), -1)
            init_pair(Pair.green.rawValue, Int16(COLOR_GREEN), -1)
            init_pair(Pair.magenta.rawValue, Int16(COLOR_MAGENTA), -1)
            init_pair(Pair.banner.rawValue, Int16(COLOR_WHITE), Int16(COLOR_RED))
            init_pair(Pair.cyan.rawValue, Int16(COLOR_CYAN), -1)
        }
    }

    /// Restores the terminal. Idempotent.
    func end() {
        guard !ended else { return }
        ended = true
        endwin()
    }

    deinit { end() }

    var height: Int { Int(getmaxy(stdscr)) }
    var width: Int { Int(getmaxx(stdscr)) }

    func key() -> Int32 { getch() }

    func clearAll() { erase() }

    /// Draws `text` at row `y`, cut to the width; the rest of the row is cleared.
    func put(_ y: Int, _ text: String, bold: Bool = false, reverse: Bool = false, pair: Pair? = nil, fill: Bool = false) {
        guard y >= 0, y < height else { return }
        var attrs: Int32 = 0
        if bold { attrs |= myconn_a_bold() }
        if reverse { attrs |= myconn_a_reverse() }
        if let pair, colors { attrs |= myconn_color_pair(pair.rawValue) }
        if attrs != 0 { attron(attrs) }
        var line = String(text.prefix(width))
        if !utf8, line.utf8.contains(where: { $0 >= 0x80 }) {
            line = String(String.UnicodeScalarView(line.unicodeScalars.map { $0.isASCII ? $0 : "?" }))
        }
        if fill, line.count < width { line += String(repeating: " ", count: width - line.count) }
        // The last cell of the last row cannot be written without scrolling: leave it.
        if y == height - 1, line.count >= width { line = String(line.prefix(max(0, width - 1))) }
        mvaddstr(Int32(y), 0, line)
        if attrs != 0 { attroff(attrs) }
        if !fill { clrtoeol() }
    }

    func show() { refresh() }
}
