// mesh-magics whale alert table (anywidget ES module). The kernel sets the traits as blocks
// are indexed (rows newest first, already bounded); this view only draws them.
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
const COLUMNS = [["block", "block"], ["rune", "rune"], ["amount", "amount"], ["share", "share"], ["txid", "txid"], ["sender", "from"], ["receiver", "to"]];

function render({ model, el: root }) {
  const box = el("div", "mesh-alerts");
  const head = el("div", "mesh-head"), pill = el("span", "mesh-pill"), title = el("code"), where = el("span"), counts = el("span", "mesh-hint");
  head.append(pill, title, where, counts);
  const note = el("div", "mesh-alerts-note"), table = el("table", "mesh-alerts-table"), empty = el("div", "mesh-hint", "no alerts yet");
  const thead = el("thead"), hr = el("tr"), body = el("tbody");
  for (const [, label] of COLUMNS) hr.appendChild(el("th", "", label));
  thead.appendChild(hr); table.append(thead, body);
  box.append(head, note, table, empty);
  root.appendChild(box);

  function drawHead() {
    const st = model.get("status"); pill.textContent = st; pill.className = "mesh-pill " + st;
    title.textContent = model.get("title");
    const h = model.get("height"), tip = model.get("tip");
    where.textContent = model.get("network") + (h >= 0 ? `, block ${h}` : ", nothing indexed yet") + (tip >= 0 ? ` (tip ${tip})` : "");
    const r = model.get("reorgs"), x = model.get("retracted");
    counts.textContent = `${model.get("n_alerts")} alerts` + (r ? `, ${r} reorg${r > 1 ? "s" : ""}` : "") + (x ? `, ${x} retracted` : "");
    note.textContent = model.get("note"); note.className = "mesh-alerts-note" + (st === "failed" ? " failed" : "");
  }
  function drawRows() {
    body.replaceChildren();
    const rows = model.get("rows");
    for (const r of rows) {
      const tr = el("tr", "kind-" + r.kind);
      for (const [key] of COLUMNS) {
        const v = r[key] === undefined || r[key] === null ? "" : String(r[key]);
        const td = el("td", key, key === "txid" || key === "sender" || key === "receiver" ? (v.length > 16 ? v.slice(0, 8) + "…" + v.slice(-6) : v) : v);
        td.title = v; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.style.display = rows.length ? "" : "none"; empty.style.display = rows.length ? "none" : "";
  }
  drawHead(); drawRows();
  for (const k of ["status", "title", "network", "height", "tip", "n_alerts", "reorgs", "retracted", "note"]) model.on("change:" + k, drawHead);
  model.on("change:rows", drawRows);
}
export default { render };
