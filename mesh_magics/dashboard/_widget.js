// mesh-magics in-cell dashboard (anywidget ES module). All state lives in synced
// traits set by the kernel at most twice a second; this view only draws them.
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function bytes(n) { if (n === null || n === undefined) return "-"; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n.toFixed(0)) + " " + u[i]; }
function secs(s) { if (s === null || s === undefined) return "-"; return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s"; }
function bar(parts, total) { const b = el("div", "mesh-bar"); let left = 0; for (const [cls, n] of parts) { if (!total || !n) continue; const s = el("span", cls); s.style.left = (100 * left / total) + "%"; s.style.width = (100 * n / total) + "%"; b.appendChild(s); left += n; } return b; }
function baseUrl() { try { const c = document.getElementById("jupyter-config-data"); if (c) return JSON.parse(c.textContent).baseUrl || "/"; } catch (e) { } return document.body.dataset.baseUrl || "/"; }
function xsrf() { const m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/); return m ? decodeURIComponent(m[1]) : ""; }

async function cancelRun(model, hint) {
  const id = model.get("run_id");
  try {
    const r = await fetch(baseUrl() + "mesh/api/runs/" + id + "/cancel", { method: "POST", credentials: "same-origin", headers: { "X-XSRFToken": xsrf() } });
    if (r.ok) { hint.textContent = "cancel sent to the scheduler"; return; }
  } catch (e) { }
  model.send({ event: "cancel" });  // reaches the kernel when it is idle (--noblock runs)
  hint.textContent = model.get("blocking") ? "the kernel is busy with this run: interrupt it (Ctrl-C / stop button) to cancel" : "cancel sent to the kernel";
}

function render({ model, el: root }) {
  const box = el("div", "mesh-dash");
  const head = el("div", "mesh-head"), pill = el("span", "mesh-pill"), name = el("code"), elapsed = el("span"), link = el("a"), btn = el("button", "", "Cancel"), hint = el("span", "mesh-hint");
  link.target = "_blank"; link.textContent = "Dask dashboard";
  head.append(pill, name, elapsed, btn, link, hint);
  const prog = el("div", "mesh-progress"), nodes = el("div", "mesh-nodes"), summary = el("div", "mesh-summary");
  const logsBar = el("div", "mesh-logs-bar"), level = el("select"), search = el("input"), dropped = el("span", "mesh-hint"), logs = el("div", "mesh-logs");
  for (const l of ["DEBUG", "INFO", "WARNING", "ERROR"]) { const o = el("option", "", l); o.value = l; level.appendChild(o); }
  search.placeholder = "search logs"; search.type = "search";
  logsBar.append(el("b", "", "Logs"), level, search, dropped);
  box.append(head, prog, nodes, logsBar, logs, summary);
  root.appendChild(box);
  btn.onclick = () => cancelRun(model, hint);

  function drawHead() {
    const st = model.get("status"); pill.textContent = st; pill.className = "mesh-pill " + st;
    name.textContent = model.get("name"); elapsed.textContent = secs(model.get("elapsed"));
    const dl = model.get("dashboard_link"); link.style.display = dl ? "" : "none"; if (dl) link.href = dl;
    btn.style.display = model.get("run_id") && (st === "running" || st === "queued") ? "" : "none";
    if (!hint.textContent || st !== "running") hint.textContent = model.get("hint");
  }
  function drawProgress() {
    prog.replaceChildren();
    const total = model.get("total"), done = model.get("done"), pct = model.get("percent"), eta = model.get("eta");
    if (!total) return;
    const t = el("div", "mesh-progress-total"); t.dataset.percent = String(Math.round(pct));
    t.append(el("span", "", `${done} / ${total} tasks, ${pct.toFixed(0)} %` + (eta !== null && eta > 0 ? `, ETA ${secs(eta)}` : "")));
    t.appendChild(bar([["done", done]], total)); prog.appendChild(t);
    const g = el("div", "mesh-groups");
    for (const r of model.get("groups")) {
      g.append(el("span", "name", r.group), bar([["done", r.done], ["processing", r.processing], ["erred", r.erred]], r.total), el("span", "", `${r.done}/${r.total}` + (r.erred ? ` (${r.erred} erred)` : "")));
    }
    prog.appendChild(g);
  }
  function drawNodes() {
    nodes.replaceChildren();
    nodes.classList.toggle("mesh-compact", model.get("compact"));
    const pos = {};
    for (const grp of model.get("node_groups")) {
      const h = el("div", "mesh-host"); h.appendChild(el("div", "mesh-host-label", grp.host + (grp.gpu ? " · " + grp.gpu : "") + ` (${grp.tiles.length})`));
      const tiles = el("div", "mesh-tiles");
      for (const t of grp.tiles) {
        const tile = el("div", "mesh-tile " + t.state); tile.dataset.address = t.address;
        tile.title = `${t.name} ${t.address}\n${t.state}, cpu ${t.cpu}%, memory ${bytes(t.memory)} / ${bytes(t.memory_limit)}, tasks ${t.processing}, spilled ${bytes(t.spilled)}` + (t.gpu_util !== null && t.gpu_util !== undefined ? `\nGPU ${t.gpu_util}% ${bytes(t.gpu_memory)} / ${bytes(t.gpu_memory_total)}` : "");
        if (!model.get("compact")) {
          tile.append(el("div", "t-name", t.name), el("div", "", `cpu ${t.cpu}% · ${t.processing} tasks`));
          const m = bar([["done", t.memory]], t.memory_limit || 1); m.classList.add("mini"); tile.append(m, el("div", "", `${bytes(t.memory)} / ${bytes(t.memory_limit)}`));
          if (t.gpu_util !== null && t.gpu_util !== undefined) { const gb = bar([["processing", t.gpu_util]], 100); gb.classList.add("mini"); tile.append(gb, el("div", "", `GPU ${t.gpu_util}% ${bytes(t.gpu_memory)}`)); }
          if (t.spilled) tile.append(el("div", "", `spilled ${bytes(t.spilled)}`));
        }
        tiles.appendChild(tile); pos[t.address] = tile;
      }
      h.appendChild(tiles); nodes.appendChild(h);
    }
    const links = model.get("links");
    if (links.length) {
      requestAnimationFrame(() => {
        const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg"); svg.classList.add("mesh-links");
        const box0 = nodes.getBoundingClientRect(); svg.setAttribute("width", box0.width); svg.setAttribute("height", box0.height);
        for (const [a, b] of links) {
          if (!pos[a] || !pos[b]) continue; const ra = pos[a].getBoundingClientRect(), rb = pos[b].getBoundingClientRect();
          const ln = document.createElementNS("http://www.w3.org/2000/svg", "line");
          ln.setAttribute("x1", ra.x + ra.width / 2 - box0.x); ln.setAttribute("y1", ra.y + ra.height / 2 - box0.y);
          ln.setAttribute("x2", rb.x + rb.width / 2 - box0.x); ln.setAttribute("y2", rb.y + rb.height / 2 - box0.y); svg.appendChild(ln);
        }
        nodes.appendChild(svg);
      });
    }
  }
  function drawLogs() {
    const floor = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].indexOf(level.value), s = search.value.toLowerCase();
    logs.replaceChildren();
    for (const [t, lv, w, text] of model.get("logs")) {
      if (["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].indexOf(lv) < floor) continue;
      if (s && !text.toLowerCase().includes(s)) continue;
      logs.appendChild(el("div", lv, `${w} ${text}`));
    }
    const d = model.get("dropped"); dropped.textContent = d ? `${d} older lines dropped` : "";
    logs.scrollTop = logs.scrollHeight;
  }
  function drawSummary() {
    const s = model.get("summary"); summary.replaceChildren(); if (!s || !Object.keys(s).length) return;
    const tb = el("table"); const row = (k, v) => { const tr = el("tr"); tr.append(el("td", "", k), el("td", "", v)); tb.appendChild(tr); };
    row("duration", secs(s.duration)); row("tasks", String(s.tasks) + (s.erred ? ` (${s.erred} erred)` : "")); row("transferred", bytes(s.bytes_transferred)); row("spilled", bytes(s.bytes_spilled)); row("peak memory", bytes(s.peak_memory));
    if (s.peak_gpu_memory !== null && s.peak_gpu_memory !== undefined) { row("GPU peak memory", bytes(s.peak_gpu_memory)); row("GPU peak utilisation", s.peak_gpu_util + " %"); }
    summary.append(el("b", "", "Summary"), tb);
  }
  level.onchange = drawLogs; search.oninput = drawLogs;
  drawHead(); drawProgress(); drawNodes(); drawLogs(); drawSummary();
  model.on("change:status", drawHead); model.on("change:elapsed", drawHead); model.on("change:hint", drawHead);
  model.on("change:groups", drawProgress); model.on("change:percent", drawProgress);
  model.on("change:node_groups", drawNodes); model.on("change:links", drawNodes);
  model.on("change:logs", drawLogs); model.on("change:summary", drawSummary);
}
export default { render };
