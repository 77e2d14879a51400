// ncursesw (Debian libncurses-dev, pkg-config ncursesw) for `myconn top`. The attributes and
// COLOR_PAIR are macros built from NCURSES_BITS, which Swift does not import: one inline
// function each, nothing else.
#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>
#include <ncursesw/term.h>

static inline int myconn_color_pair(short n) { return (int)COLOR_PAIR(n); }
static inline int myconn_a_bold(void) { return (int)A_BOLD; }
static inline int myconn_a_reverse(void) { return (int)A_REVERSE; }
static inline int myconn_a_dim(void) { return (int)A_DIM; }
static inline int myconn_a_underline(void) { return (int)A_UNDERLINE; }
