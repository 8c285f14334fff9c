"""The dashboard's only static files: a small style sheet and the live table's script (no
build step; served from `/static/`, the strict Content-Security-Policy allows nothing inline)."""

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,sans-serif;color:#1b1f24;background:#f6f7f9}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;
background:#1b1f24;color:#fff}
header a{color:#fff;text-decoration:none}header a:hover{text-decoration:underline}
header nav{display:flex;flex-wrap:wrap;gap:.8rem;flex:1}
header form{margin:0}.who{font-size:.85rem;opacity:.8}
main{padding:1rem;max-width:70rem;margin:auto}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem}
.card{background:#fff;border:1px solid #dde1e6;border-radius:.5rem;padding:.6rem .8rem}
.card b{display:block;font-size:1.3rem}.card span{font-size:.8rem;color:#57606a}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e4e7eb;white-space:nowrap}
.scroll{overflow-x:auto}
form.filters{display:flex;flex-wrap:wrap;gap:.4rem;margin-bottom:.8rem}
input,select,button{font:inherit;padding:.3rem .5rem}
a.button{display:inline-block;margin:.1rem;padding:.25rem .5rem;color:#1b1f24;
text-decoration:none}
a.button,button{cursor:pointer;border:1px solid #8c959f;border-radius:.3rem;background:#fff}
button.go{background:#1f6feb;color:#fff;border-color:#1f6feb}
.s-finished{color:#1a7f37;font-weight:600}.s-expired,.s-failed{color:#8c959f}
.s-partially_paid,.s-refunded{color:#bc4c00}
.flash{background:#dafbe1;border:1px solid #1a7f37;padding:.5rem;border-radius:.3rem}
.refused{background:#ffebe9;border-color:#cf222e}
.live{font-size:.8rem;color:#57606a}svg{max-width:100%;height:auto;background:#fff}
"""

LIVE_JS = r"""
(function () {
  var table = document.getElementById("payments");
  if (!table || !window.EventSource) return;
  var state = document.getElementById("live-state");
  var url = table.dataset.stream;
  var source = new EventSource(url);
  var cols = ["id", "created", "customer", "plan", "price", "coin", "paid", "status"];
  source.addEventListener("open", function () { state.textContent = table.dataset.on; });
  source.addEventListener("error", function () { state.textContent = table.dataset.off; });
  source.addEventListener("payment", function (event) {
    var p = JSON.parse(event.data);
    var row = document.getElementById("p-" + p.id);
    if (!row) {
      row = document.createElement("tr");
      row.id = "p-" + p.id;
      cols.forEach(function () { row.appendChild(document.createElement("td")); });
      table.tBodies[0].insertBefore(row, table.tBodies[0].firstChild);
    }
    cols.forEach(function (name, i) {
      var cell = row.cells[i];
      if (name === "id") {
        cell.textContent = "";
        var link = document.createElement("a");
        link.href = "/payments/" + p.id;
        link.textContent = "#" + p.id;
        cell.appendChild(link);
      } else {
        cell.textContent = p[name];
      }
    });
    row.cells[7].className = "s-" + p.status_code;
    row.dataset.status = p.status_code;
  });
})();
"""
