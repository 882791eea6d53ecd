// The region editor (docs/http.md): draw, move, resize, rename and delete regions on the live image, then save
// through POST /api/regions (checked by the daemon's settings, applied live, kept like a remote setting).
"use strict";
const MIN_SIDE = 0.02;  // the settings refuse smaller; a shorter drag is a click, not a region
let edit = null;  // while editing: {regions: [{name, box: [x0, y0, x1, y1]}], sel: index or -1, drag}

const clamp = (v) => Math.min(1, Math.max(0, v));
const round = (v) => Math.round(v * 1000) / 1000;

function pointAt(e) {
  const r = $("editor").getBoundingClientRect();
  return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
}

async function openEditor() {
  let got; try { got = await api("/api/regions"); } catch (e) { $("regions-state").textContent = e.message; return; }
  if (!got.editable) { $("regions-state").textContent = `regions are set by ${got.from}: the page cannot change them`; return; }
  edit = { regions: got.regions, sel: -1, drag: null };
  $("editor").hidden = false; $("regions").hidden = true; $("region-edit").hidden = false; $("edit-regions").hidden = true;
  $("regions-error").textContent = ""; $("regions-state").textContent = "";
  renderEditor();
}

function closeEditor(message) {
  edit = null;
  $("editor").replaceChildren(); $("region-list").replaceChildren();
  $("editor").hidden = true; $("regions").hidden = false; $("region-edit").hidden = true; $("edit-regions").hidden = false;
  $("regions-state").textContent = message || "";
}

function renderEditor() {
  const boxes = edit.regions.map((r, i) => {
    const [x0, y0, x1, y1] = r.box;
    return el("div", { class: "eregion" + (i === edit.sel ? " sel" : ""), "data-index": i,
      style: `left:${100 * x0}%;top:${100 * y0}%;width:${100 * (x1 - x0)}%;height:${100 * (y1 - y0)}%` },
      el("span", {}, r.name), ...["nw", "ne", "sw", "se"].map((c) => el("div", { class: "handle " + c, "data-corner": c })));
  });
  $("editor").replaceChildren(...boxes);
  const rows = edit.regions.map((r, i) => el("div", { class: "region-row" + (i === edit.sel ? " sel" : ""), "data-index": i },
    nameInput(r, i), el("span", { class: "box" }, "[" + r.box.map((v) => v.toFixed(3)).join(", ") + "]"),
    el("button", { type: "button", class: "small", onclick: () => { edit.regions.splice(i, 1); edit.sel = -1; renderEditor(); } }, "delete")));
  $("region-list").replaceChildren(...(rows.length ? rows : [el("p", { class: "muted small" }, "no region: the whole frame is classified")]));
}

function nameInput(r, i) {
  const input = el("input", { value: r.name, "aria-label": "region name", maxlength: "64" });
  input.addEventListener("input", () => { r.name = input.value; $("editor").children[i].firstChild.textContent = r.name; });
  input.addEventListener("focus", () => { edit.sel = i; for (const b of $("editor").children) b.classList.toggle("sel", b === $("editor").children[i]); });
  return input;
}

function newName() {
  const names = new Set(edit.regions.map((r) => r.name));
  let n = edit.regions.length + 1;
  while (names.has("region" + n)) n++;
  return "region" + n;
}

function onDown(e) {
  if (!edit || e.button !== 0) return;
  e.preventDefault();
  $("editor").setPointerCapture(e.pointerId);
  const p = pointAt(e), target = e.target.closest(".eregion");
  const index = target ? Number(target.dataset.index) : -1, corner = e.target.dataset.corner;
  if (index >= 0 && (corner || index === edit.sel)) {  // the selected region moves; any region's corner resizes
    edit.drag = { mode: corner || "move", from: p, index, start: edit.regions[index].box.slice() };
    edit.sel = index;
    renderEditor();
  } else edit.drag = { mode: "draw", from: p, box: null, hit: index };  // a click selects; a drag draws (overlaps allowed)
}

function onMove(e) {
  const d = edit && edit.drag;
  if (!d) return;
  const [x, y] = pointAt(e), [fx, fy] = d.from;
  if (d.mode === "draw") {
    if (Math.abs(x - fx) < MIN_SIDE && Math.abs(y - fy) < MIN_SIDE && !d.box) return;
    if (!d.box) { d.index = edit.regions.push({ name: newName(), box: [] }) - 1; edit.sel = d.index; d.box = true; }
    edit.regions[d.index].box = [Math.min(x, fx), Math.min(y, fy), Math.max(x, fx), Math.max(y, fy)].map(round);
  } else if (d.mode === "move") {
    const [x0, y0, x1, y1] = d.start;
    const dx = Math.min(1 - x1, Math.max(-x0, x - fx)), dy = Math.min(1 - y1, Math.max(-y0, y - fy));
    edit.regions[d.index].box = [x0 + dx, y0 + dy, x1 + dx, y1 + dy].map(round);
  } else {
    const b = d.start.slice();
    if (d.mode.includes("w")) b[0] = x; else b[2] = x;
    if (d.mode.includes("n")) b[1] = y; else b[3] = y;
    edit.regions[d.index].box = [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])].map(round);
  }
  renderEditor();
}

function onUp() {
  const d = edit && edit.drag;
  if (!d) return;
  edit.drag = null;
  if (d.mode === "draw" && !d.box) { edit.sel = d.hit; renderEditor(); }
  if (d.mode === "draw" && d.box) {
    const [x0, y0, x1, y1] = edit.regions[d.index].box;
    if (x1 - x0 < MIN_SIDE || y1 - y0 < MIN_SIDE) { edit.regions.splice(d.index, 1); edit.sel = -1; }
    renderEditor();
    const input = $("region-list").querySelector(`.region-row[data-index="${edit.sel}"] input`);
    if (input) { input.focus(); input.select(); }
  }
}

async function saveRegions() {
  const regions = edit.regions.map((r) => ({ name: r.name.trim(), box: r.box }));
  $("regions-error").textContent = "";
  try {
    const got = await api("/api/regions", { regions });
    closeEditor(got.regions.length ? `saved and applied: ${got.regions.map((r) => r.name).join(", ")}` : "saved: the whole frame");
    refreshStatus();
  } catch (e) { $("regions-error").textContent = e.message; }
}

$("editor").addEventListener("pointerdown", onDown);
$("editor").addEventListener("pointermove", onMove);
$("editor").addEventListener("pointerup", onUp);
$("editor").addEventListener("pointercancel", onUp);
document.addEventListener("keydown", (e) => {  // Delete removes the selected region (not while typing its name)
  if (!edit || edit.sel < 0 || e.target.tagName === "INPUT" || (e.key !== "Delete" && e.key !== "Backspace")) return;
  e.preventDefault(); edit.regions.splice(edit.sel, 1); edit.sel = -1; renderEditor();
});
$("edit-regions").addEventListener("click", openEditor);
$("cancel-regions").addEventListener("click", () => closeEditor());
$("save-regions").addEventListener("click", saveRegions);
