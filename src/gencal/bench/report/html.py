"""The report as one HTML page: tables sortable by a click on a header, figures that enlarge.

Everything is inline: CSS, a small script, and the figures as base64 ``data:`` URIs. The page
makes no network request (no CDN, no web font), so it opens offline and can be mailed as one file.
A study kept in a repository can link its figures instead (``report.embed_figures: false``):
the page then shows ``figures/<name>.png`` from beside it and holds only its tables.

- Sorting: a click on a column header sorts the table's rows by that column (again: reversed).
  A cell that starts with a number sorts by it (``"1.63 ± 0.15"`` -> 1.63, ``"Δ -0.12 (p=…)"`` ->
  -0.12), others by their text; empty cells (``–``) go last.
- Figures: a click on a figure shows it over the page, as large as the window allows; a click or
  Escape closes it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

__all__ = ["Section", "figure_html", "page_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}.tw{overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none}th:hover{background:#e2e8f0}
th.asc::after{content:" \\25B2";font-size:10px}th.desc::after{content:" \\25BC";font-size:10px}
td.t,th:first-child,th:nth-child(2){text-align:left}
tbody tr:nth-child(even){background:#fafafa}
.note{color:#555;font-size:13px;max-width:60em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee;cursor:zoom-in}
figcaption{color:#555;font-size:13px}code{background:#f4f4f4;padding:0 3px}
#zoom{display:none;position:fixed;inset:0;background:rgba(0,0,0,.8);z-index:10;
cursor:zoom-out;align-items:center;justify-content:center}
#zoom.open{display:flex}#zoom img{width:96vw;height:94vh;object-fit:contain}
"""

_JS = """
(function(){
  function key(cell){
    var t=cell.textContent.trim();
    var m=t.match(/^(?:\\u0394\\s*)?([+\\-]?\\d*\\.?\\d+(?:e[+\\-]?\\d+)?)/i);
    if(m&&!isNaN(parseFloat(m[1])))return[0,parseFloat(m[1]),t];
    if(t===''||t==='\\u2013'||t==='n/a')return[2,0,t];
    return[1,0,t.toLowerCase()];
  }
  function cmp(a,b){
    if(a[0]!==b[0])return a[0]-b[0];
    if(a[0]===0)return a[1]-b[1];
    return a[2]<b[2]?-1:a[2]>b[2]?1:0;
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads,function(th,col){
      th.addEventListener('click',function(){
        var desc=th.classList.contains('asc');
        Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc');
          h.removeAttribute('aria-sort');});
        th.classList.add(desc?'desc':'asc');
        th.setAttribute('aria-sort',desc?'descending':'ascending');
        var body=table.tBodies[0];
        var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(r1,r2){
          var k1=key(r1.cells[col]),k2=key(r2.cells[col]);
          if(k1[0]===2||k2[0]===2)return k1[0]-k2[0];
          return desc?cmp(k2,k1):cmp(k1,k2);
        });
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var zoom=document.getElementById('zoom'),big=zoom.querySelector('img');
  document.querySelectorAll('figure img').forEach(function(img){
    img.addEventListener('click',function(){big.src=img.src;big.alt=img.alt;
      zoom.classList.add('open');});
  });
  function close(){zoom.classList.remove('open');big.removeAttribute('src');}
  zoom.addEventListener('click',close);
  document.addEventListener('keydown',function(e){if(e.key==='Escape')close();});
})();
"""


@dataclass
class Section:
    """One ``<h2>`` section of the page: a title and its HTML blocks.

    Args:
        title: the section title (plain text; escaped on the page).
        blocks: HTML blocks (tables, figures, paragraphs), in order.

    Example:
        >>> sec = Section("Tables", ["<p>one</p>"])
        >>> sec.blocks.append("<p>two</p>")
        >>> "<h2 id='s0'>Tables</h2>" in page_html("Demo", [], [sec]), len(sec.blocks)
        (True, 2)
    """

    title: str
    blocks: list[str] = field(default_factory=list)


def figure_html(path: Path, caption: str, *, embed: bool = True) -> str:
    """A ``<figure>`` with the PNG at ``path`` embedded as a ``data:`` URI and a caption.

    Args:
        path: a PNG file (its name is shown as ``figures/<name>``).
        caption: plain text.
        embed: embed the file's bytes; False links ``figures/<name>`` (relative to the page).

    Returns:
        The HTML block.

    Example:
        >>> import tempfile
        >>> png = Path(tempfile.mkdtemp()) / "acc_vs_ece.png"
        >>> _ = png.write_bytes(b"PNG bytes")  # the file's bytes are embedded as they are
        >>> block = figure_html(png, "Accuracy & ECE")
        >>> block.startswith("<figure><img alt='Accuracy &amp; ECE' src='data:image/png;base64,")
        True
        >>> "base64,UE5HIGJ5dGVz'" in block
        True
        >>> block.endswith("(<code>figures/acc_vs_ece.png</code>)</figcaption></figure>")
        True
        >>> "src='figures/acc_vs_ece.png'" in figure_html(png, "Accuracy", embed=False)
        True
    """
    if embed:
        src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    else:
        src = "figures/" + quote(path.name)
    return (
        f"<figure><img alt='{html.escape(caption)}' src='{html.escape(src)}'>"
        f"<figcaption>{html.escape(caption)} (<code>figures/{html.escape(path.name)}</code>)"
        "</figcaption></figure>"
    )


def page_html(title: str, intro: Sequence[str], sections: Sequence[Section]) -> str:
    """The whole page: title, intro paragraphs (HTML), a table of contents, the sections.

    Args:
        title: the page title (plain text).
        intro: paragraphs under the title, already HTML (escape plain text first).
        sections: the sections, each linked from the table of contents (``#s<i>``).

    Returns:
        The HTML document.

    Example:
        >>> page = page_html("Demo", ["Intro."], [Section("Tables", ["<p>none</p>"])])
        >>> "<a href='#s0'>Tables</a>" in page and "<h2 id='s0'>Tables</h2>" in page
        True
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *[f"<p>{p}</p>" for p in intro],
    ]
    toc = "".join(
        f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(sections)
    )
    parts.append(f"<ul>{toc}</ul>")
    for i, s in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(s.title)}</h2>")
        parts.extend(s.blocks)
    parts.append("<div id='zoom' role='dialog' aria-label='enlarged figure'><img alt=''></div>")
    parts.append(f"<script>{_JS}</script>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
