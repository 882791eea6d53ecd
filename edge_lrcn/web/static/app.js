// The page: plain DOM, no build step, no CDN. Same-origin fetch with the page's cookies (docs/http.md).
"use strict";
const $ = (id) => document.getElementById(id);
let status = null;

async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, opts);
  const data = r.headers.get("Content-Type") === "application/json" ? await r.json() : null;
  if (r.status === 401 && path !== "/api/login") showLogin();
  if (!r.ok) throw new Error((data && data.error) || r.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function showLogin() { $("app").hidden = true; $("login").hidden = false; $("live").removeAttribute("src"); }

async function start() {
  const s = await api("/api/session");
  $("logout").hidden = !s.password;
  if (s.password && !s.logged_in) return showLogin();
  $("login").hidden = true; $("app").hidden = false;
  $("live").src = "/api/live.mjpg";
  $("live").onerror = () => setTimeout(() => { $("live").src = "/api/live.mjpg?" + Date.now(); }, 2000);
  await refreshStatus(); refreshEvents(); refreshDataset(); refreshModel();
}

async function refreshStatus() {
  try { status = await api("/api/status"); } catch (e) { return; }
  $("camera").textContent = "camera " + status.camera;
  $("camera").className = "pill " + status.camera;
  $("model").textContent = "model " + status.model;
  const ms = (x) => (x == null ? "–" : x.toFixed(2));
  $("perf").textContent = `${status.fps == null ? "–" : status.fps.toFixed(1)} fps kept · encoder ${ms(status.ms_encoder)} ms · head ${ms(status.ms_head)} ms`;
  $("activity").textContent = status.activity;
  $("confidence").textContent = status.activity === "none" ? "no activity" : `confidence ${(100 * status.confidence).toFixed(0)}%`;
  drawRegions(status.regions);
  drawScores(status.regions[0].scores);
  const [first, ...others] = status.regions, named = first.name !== "frame" || others.length > 0;
  $("now-where").textContent = named ? "now in " + first.name : "now";
  $("scores-where").textContent = named ? ` (${first.name})` : "";
  $("other-regions").replaceChildren(...others.map((r) => el("div", { class: "other", "data-region": r.name },
    el("b", {}, r.name + ": "), r.activity, el("span", { class: "muted" }, r.activity === "none" ? "" : ` ${(100 * r.confidence).toFixed(0)}%`))));
}

function drawRegions(regions) {
  const box = $("regions"); box.replaceChildren();
  for (const r of regions) {
    const [x0, y0, x1, y1] = r.box;
    const d = el("div", { class: "region", style: `left:${100 * x0}%;top:${100 * y0}%;width:${100 * (x1 - x0)}%;height:${100 * (y1 - y0)}%` },
      el("span", {}, `${r.name}: ${r.activity}`));
    box.append(d);
  }
}

function drawScores(scores) {
  const entries = Object.entries(scores);
  const best = Math.max(...entries.map(([, p]) => p), 0);
  $("scores").replaceChildren(...entries.map(([label, p]) => el("div", { class: "bar" + (p === best ? " top" : ""), "data-label": label },
    el("span", {}, label), el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * p).toFixed(1)}%` })),
    el("span", { class: "muted" }, (100 * p).toFixed(0) + "%"))));
}

function labelRow(ev) {
  if (ev.labelled) return el("div", { class: "row done" }, `in the dataset as ${ev.labelled}`);
  if (ev.status !== "done") return el("div", { class: "row muted" }, ev.status === "recording" ? "clip being recorded…" : "no clip (clips are off)");
  const labels = (status && status.labels) || [];
  const input = el("input", { list: "labels-list", placeholder: "label", value: ev.label, "aria-label": "label" });
  const send = async (body) => {
    try { await api(`/api/events/${encodeURIComponent(ev.id)}/label`, body); refreshEvents(); refreshDataset(); }
    catch (e) { alert(e.message); }
  };
  return el("div", { class: "row" }, el("span", {}, "this was"), input,
    el("button", { class: "primary", onclick: () => send({ label: input.value.trim() }) }, "add"),
    el("button", { onclick: () => send({ false_alarm: true }), title: `add it as ${status ? status.idle_label : "idle"}` }, "false alarm"));
}

function play(ev) {
  const v = $("video"); v.src = ev.clip_url; $("player").showModal(); v.play().catch(() => {});
}

async function refreshEvents() {
  let data; try { data = await api("/api/events"); } catch (e) { return; }
  $("events-note").textContent = data.events.length ? "" : "No event yet: activities appear here as the model sees them.";
  if (!data.dataset_dir) $("events-note").textContent += " Labelling needs a dataset folder (--dataset-dir).";
  const list = data.events.map((ev) => el("div", { class: "event", "data-id": ev.id },
    ev.snapshot_url ? el("img", { src: ev.snapshot_url, alt: ev.label, title: "play the clip", onclick: () => ev.clip_url && play(ev) }) : el("div"),
    el("div", { class: "body" }, el("div", { class: "label" }, ev.label, ev.region ? el("span", { class: "muted small" }, " in " + ev.region) : ""),
      el("div", { class: "muted small" }, `${new Date(ev.start).toLocaleString()} · ${ev.confidence == null ? "" : (100 * ev.confidence).toFixed(0) + "%"}`),
      ev.clip_url ? el("div", { class: "row" }, el("button", { class: "play", onclick: () => play(ev) }, "▶ play clip")) : "",
      labelRow(ev))));
  $("events").replaceChildren(...list);
  const dl = $("labels-list") || document.body.appendChild(el("datalist", { id: "labels-list" }));
  dl.replaceChildren(...((status && status.labels) || []).map((l) => el("option", { value: l })));
}

function groupCell(label, group, names) {
  const remove = async (name) => {
    if (!confirm(`Delete ${label}/${group ? group + "/" : ""}${name} from the dataset?`)) return;
    try { await api("/api/dataset/delete", { label, group, name }); refreshDataset(); } catch (e) { alert(e.message); }
  };
  return el("details", {}, el("summary", {}, `${group || "(top)"}: ${names.length}`),
    ...names.map((n) => el("div", { class: "clipname" }, n, " ", el("button", { class: "small", title: "delete", onclick: () => remove(n) }, "delete"))));
}

async function refreshDataset() {
  let d; try { d = await api("/api/dataset"); } catch (e) { $("dataset-dir").textContent = e.message; return; }
  $("dataset-dir").textContent = d.dataset_dir;
  $("warnings").replaceChildren(...d.warnings.map((w) => el("li", {}, w)));
  const rows = Object.entries(d.classes).map(([label, c]) => el("tr", {}, el("td", {}, label), el("td", {}, String(c.clips)),
    el("td", {}, ...Object.entries(c.groups).map(([g, names]) => groupCell(label, g, names)))));
  $("dataset").tBodies[0].replaceChildren(...rows);
}

async function refreshModel() {
  let m; try { m = await api("/api/model"); } catch (e) { return; }
  const pct = (x) => (x == null ? "?" : (100 * x).toFixed(1) + "%");
  $("model-id").textContent = `${m.model}, made ${m.created || "?"}, ${m.signer ? "signed by " + m.signer : "not signed"}`;
  const clips = Object.entries(m.clips_per_class).map(([k, n]) => `${k} ${n}`).join(", ");
  $("model-summary").replaceChildren(
    el("p", {}, el("b", {}, `accuracy ${pct(m.accuracy)}`), ` (${m.estimate}); chance ${pct(m.chance)}, a single frame ${pct(m.baseline_single_frame)}`),
    el("p", { class: "muted" }, `labels: ${m.labels.join(", ")}` + (clips ? ` · trained on ${clips} clips` : "")));
  const p = m.previous;
  $("previous-model").textContent = !p ? "no previous model (none was replaced by a push)" : p.error ? p.error :
    `previous model ${p.model} (made ${p.created || "?"}): accuracy ${pct(p.accuracy)} (${p.estimate}), labels ${p.labels.join(", ")}`;
  if (!m.confusion_matrix) return;
  const head = el("tr", {}, el("th", {}, "true \\ said"), ...m.labels.map((l) => el("th", {}, l)));
  $("confusion").replaceChildren(head, ...m.confusion_matrix.map((row, i) => el("tr", {}, el("th", {}, m.labels[i]),
    ...row.map((n, j) => el("td", { class: i === j ? "diag" : n ? "off" : "" }, String(n))))));
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try { await api("/api/login", { password: $("password").value }); $("login-error").textContent = ""; start(); }
  catch (err) { $("login-error").textContent = err.message; }
});
$("record-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const label = $("record-label").value.trim(), seconds = Number($("record-seconds").value);
  for (let n = 3; n > 0; n--) { $("record-state").textContent = `get ready: ${n}…`; await new Promise((r) => setTimeout(r, 1000)); }
  $("record-state").textContent = `recording ${label} for ${seconds} s…`;
  try { const r = await api("/api/record", { label, seconds }); $("record-state").textContent = `saved ${r.path}`; refreshDataset(); }
  catch (err) { $("record-state").textContent = err.message; }
});
$("logout").addEventListener("click", async () => { await api("/api/logout", {}); showLogin(); });
$("player").addEventListener("close", () => { $("video").pause(); $("video").removeAttribute("src"); });
setInterval(() => { if (!$("app").hidden) refreshStatus(); }, 500);
setInterval(() => { if (!$("app").hidden) refreshEvents(); }, 4000);
start();
