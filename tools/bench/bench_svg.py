"""bench_svg.py: a line chart written as SVG by hand (layer: benchmark
report; calls nothing but the Python standard library), so the benchmark
plots need no plotting package. Used by tools/bench/bench-dio for IOPS against
queue depth.
"""

import math
from xml.sax.saxutils import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
W, H = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 150, 50, 60  # margins around the plot area


def _nice_max(v):
    """A round number just above v for the top of the y axis."""
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def _fmt(v):
    if v >= 1e6:
        return "%gM" % (v / 1e6)
    if v >= 1e3:
        return "%gk" % (v / 1e3)
    return "%g" % v


def line_chart(path, title, xlabel, ylabel, series, subtitle=""):
    """Writes series ({name: [(x, y), ...]}, x > 0, log2 x axis) to path.

    Precondition: at least one series with at least one point.
    """
    xs = sorted({x for pts in series.values() for x, _ in pts})
    ymax = _nice_max(max((y for pts in series.values() for _, y in pts), default=1))
    lx0, lx1 = math.log2(xs[0]), math.log2(xs[-1]) if xs[-1] > xs[0] else math.log2(xs[0]) + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log2(x) - lx0) / (lx1 - lx0) * pw

    def py(y):
        return TOP + ph - y / ymax * ph

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (LEFT, escape(title))]
    if subtitle:
        out.append('<text x="%d" y="38" fill="#555">%s</text>' % (LEFT, escape(subtitle)))
    for i in range(6):  # horizontal grid and y labels
        y = ymax * i / 5
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, py(y), LEFT + pw, py(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (LEFT - 6, py(y) + 4, _fmt(y)))
    for x in xs:  # vertical grid and x labels
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (px(x), TOP, px(x), TOP + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (px(x), TOP + ph + 18, x))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (LEFT, TOP, pw, ph))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (LEFT + pw / 2, H - 18, escape(xlabel)))
    out.append('<text transform="translate(18,%.1f) rotate(-90)" text-anchor="middle">%s</text>'
               % (TOP + ph / 2, escape(ylabel)))
    for k, (name, pts) in enumerate(series.items()):
        c = COLOURS[k % len(COLOURS)]
        pts = sorted(pts)
        if pts:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (c, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in pts)))
            for x, y in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s QD%g: %.0f</title></circle>'
                           % (px(x), py(y), c, escape(name), x, y))
        ly = TOP + 10 + 20 * k
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (LEFT + pw + 12, ly, LEFT + pw + 36, ly, c))
        out.append('<text x="%d" y="%d">%s</text>' % (LEFT + pw + 42, ly + 4, escape(name)))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
