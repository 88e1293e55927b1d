// The Annotate page's canvas (a Streamlit v1 component, plain JS: no build step, nothing
// downloaded). Everything a hand does is drawn here at once: clicks, box corners, extreme
// points, polygon vertices, strokes, zoom and pan. Python hears only what needs it: a whole
// interaction (a completed gesture, a closed polygon, a finished stroke) or an action (undo,
// reset, next object, accept, skip, the sign). Coordinates sent are (y, x) crop pixels.
//
// Every event carries a client sequence number; Python applies those above the draft's last
// one and answers with `acked`, so a message superseded by a newer one (Streamlit keeps only
// a component's latest value) loses nothing: each message carries every unacknowledged event.
// The time from sending an interaction to its mask being drawn is measured here (`waits`):
// the app's wait, recorded apart from the person's active seconds.
"use strict";

const ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];
const MAX_FIT_HEIGHT = 620; // px: the whole image in view at zoom 1, whatever its width
const MAX_UPSCALE = 6; // small crops are shown enlarged (small targets are hard to hit)
const GUTTER = 17; // reserved for the scroll bar, so zooming never moves the page below
const CLOSE_RADIUS = 8; // display px: a click this near the first vertex closes a polygon

const S = {
  args: null,
  image: null, // ImageBitmap of the crop
  imageKey: null,
  luminance: null, // Uint8Array [h*w]: outline colour contrasting with the image
  labels: null, // Uint8Array [h*w]: class id + 1 of each pixel (0: no object)
  labelsKey: null,
  overlay: document.createElement("canvas"),
  zoom: 1,
  fit: 1,
  opacity: Number(localStorage.getItem("al_loop_opacity") ?? 0.45),
  positive: true,
  gesture: null, // what the next point is part of (Python's answer, or predicted)
  serverPending: [], // points Python holds (typed on the keyboard)
  local: [], // [y, x, time] of the gesture being made, not sent yet
  stroke: null, // [[y, x], ...] while a stroke is drawn
  queue: [], // sent, not yet acknowledged events
  lastSeq: 0,
  openWaits: new Map(), // seq -> {start, cut}: an interaction waiting for its mask
  waits: [], // [seq, seconds] measured; sent with every message (Python keeps them by seq)
  external: null,
  cursor: null,
  pan: null,
  frameHeight: 0,
  // for tests and benchmarks/app_latency.py: what was sent, answered and drawn, and when
  messages: 0,
  inputAt: 0, // performance.now() of the last press or key
  shownSeq: 0, // the last acknowledged event whose answer is drawn
  shownAt: 0,
};
window.canvasState = () => ({
  messages: S.messages,
  lastSeq: S.lastSeq,
  queued: S.queue.length,
  shownSeq: S.shownSeq,
  latency: S.shownAt - S.inputAt,
  local: S.local.length,
  zoom: S.zoom,
  scale: scale(),
  scrollLeft: viewport.scrollLeft,
  scrollWidth: viewport.scrollWidth,
  clientWidth: viewport.clientWidth,
  positive: S.positive,
  gesture: S.gesture ? S.gesture.name : null,
  labelled: S.labels ? S.labels.reduce((n, v) => n + (v > 0), 0) : 0,
});

const $ = (id) => document.getElementById(id);
const view = $("view");
const viewport = $("viewport");
const ctx = view.getContext("2d");

// -- the Streamlit v1 component protocol (postMessage) ---------------------------------------
function post(type, data) {
  window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*");
}
window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") onRender(event.data.args);
});
post("streamlit:componentReady", { apiVersion: 1 });

function send() {
  S.messages += 1;
  post("streamlit:setComponentValue", {
    value: {
      unit: S.args.unit,
      events: S.queue.map((e) => e.data),
      waits: S.waits,
      sent: Date.now(),
    },
    dataType: "json",
  });
}

function nextSeq() {
  S.lastSeq = Math.max(Date.now(), S.lastSeq + 1);
  return S.lastSeq;
}

function emit(data, waits) {
  data.seq = nextSeq();
  S.queue.push({ data });
  if (waits) S.openWaits.set(data.seq, { start: performance.now(), cut: null });
  send();
  redraw();
}

// A person acting ends every wait still open: from then on they are not waiting.
function markAction() {
  const now = performance.now();
  S.inputAt = now;
  for (const wait of S.openWaits.values()) if (wait.cut === null) wait.cut = now;
}

// -- what Python sends -----------------------------------------------------------------------
async function onRender(args) {
  const first = S.args === null;
  S.args = args;
  S.lastSeq = Math.max(S.lastSeq, args.acked || 0);
  S.queue = S.queue.filter((e) => e.data.seq > (args.acked || 0));
  if (S.queue.length === 0) {
    S.gesture = args.gesture;
    S.serverPending = args.pending || [];
    S.positive = args.positive;
  }
  if (args.external !== S.external) {
    // the draft changed outside the canvas (a button, typed points, another method)
    if (S.external !== null) S.local = [];
    S.external = args.external;
  }
  if (args.labels_key !== S.labelsKey) {
    S.labels = decodeRuns(args.labels, args.hw[0] * args.hw[1]);
    S.labelsKey = args.labels_key;
    buildOverlay();
  }
  if (args.image_key !== S.imageKey) {
    S.imageKey = args.image_key;
    const bitmap = await createImageBitmap(new Blob([args.image], { type: args.image_type }));
    if (S.imageKey !== args.image_key) return; // a newer image arrived meanwhile
    S.image = bitmap;
    S.luminance = luminance(bitmap);
    buildOverlay();
  }
  if (first) $("opacity").value = S.opacity;
  layout();
  redraw();
  requestAnimationFrame(() => closeWaits(args.acked || 0));
}

// The mask of every acknowledged interaction is on screen now.
function closeWaits(acked) {
  const now = performance.now();
  if (acked > S.shownSeq) {
    S.shownSeq = acked;
    S.shownAt = now;
  }
  for (const [seq, wait] of S.openWaits) {
    if (seq > acked) continue;
    const end = wait.cut === null ? now : Math.min(wait.cut, now);
    S.waits.push([seq, Math.max(0, (end - wait.start) / 1000)]);
    S.openWaits.delete(seq);
  }
}

function decodeRuns(runs, size) {
  const out = new Uint8Array(size);
  let at = 0;
  for (let k = 0; k < runs.values.length; k++) {
    const n = runs.lengths[k];
    if (runs.values[k]) out.fill(runs.values[k], at, at + n);
    at += n;
  }
  return out;
}

function luminance(bitmap) {
  const c = document.createElement("canvas");
  c.width = bitmap.width;
  c.height = bitmap.height;
  const g = c.getContext("2d");
  g.drawImage(bitmap, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  const out = new Uint8Array(c.width * c.height);
  for (let i = 0; i < out.length; i++) {
    out[i] = (px[4 * i] * 299 + px[4 * i + 1] * 587 + px[4 * i + 2] * 114) / 1000;
  }
  return out;
}

// The mask at crop resolution: each class's colour at the chosen opacity, its outline opaque
// in black or white (whichever the image under it is not), so a red mask shows on red.
function buildOverlay() {
  if (!S.args || !S.labels) return;
  const [h, w] = S.args.hw;
  S.overlay.width = w;
  S.overlay.height = h;
  const g = S.overlay.getContext("2d");
  const data = g.createImageData(w, h);
  const px = data.data;
  const lab = S.labels;
  const colors = S.args.colors;
  const alpha = Math.round(255 * S.opacity);
  for (let i = 0; i < lab.length; i++) {
    const v = lab[i];
    if (!v) continue;
    const x = i % w;
    const o = 4 * i;
    const edge =
      (x > 0 && lab[i - 1] !== v) ||
      (x < w - 1 && lab[i + 1] !== v) ||
      (i >= w && lab[i - w] !== v) ||
      (i < lab.length - w && lab[i + w] !== v);
    if (edge) {
      const shade = S.luminance && S.luminance[i] > 110 ? 0 : 255;
      px[o] = px[o + 1] = px[o + 2] = shade;
      px[o + 3] = 255;
    } else {
      const c = colors[(v - 1) % colors.length];
      px[o] = c[0];
      px[o + 1] = c[1];
      px[o + 2] = c[2];
      px[o + 3] = alpha;
    }
  }
  g.putImageData(data, 0, 0);
}

// -- geometry --------------------------------------------------------------------------------
function scale() {
  return S.fit * S.zoom;
}

function layout() {
  if (!S.args) return;
  const [h, w] = S.args.hw;
  const width = document.body.clientWidth;
  S.fit = Math.min(width / w, MAX_FIT_HEIGHT / h, MAX_UPSCALE);
  const W = Math.floor(w * scale());
  const H = Math.floor(h * scale());
  if (view.width !== W || view.height !== H) {
    view.width = W;
    view.height = H;
  }
  viewport.style.height = `${Math.floor(h * S.fit) + GUTTER}px`;
  $("zoom_label").textContent = `${S.zoom}x`;
  const height = document.documentElement.scrollHeight;
  if (height !== S.frameHeight) {
    S.frameHeight = height;
    post("streamlit:setFrameHeight", { height });
  }
}
window.addEventListener("resize", () => {
  layout();
  redraw();
});

function toCrop(event) {
  const [h, w] = S.args.hw;
  const rect = view.getBoundingClientRect();
  const s = scale();
  const x = Math.min(w - 1, Math.max(0, Math.floor((event.clientX - rect.left) / s)));
  const y = Math.min(h - 1, Math.max(0, Math.floor((event.clientY - rect.top) / s)));
  return [y, x];
}

function toView(p) {
  const s = scale();
  return [(p[1] + 0.5) * s, (p[0] + 0.5) * s];
}

function setZoom(zoom, anchor) {
  const old = scale();
  const ax = anchor ? anchor[0] : viewport.clientWidth / 2;
  const ay = anchor ? anchor[1] : viewport.clientHeight / 2;
  const ix = (viewport.scrollLeft + ax) / old;
  const iy = (viewport.scrollTop + ay) / old;
  S.zoom = zoom;
  layout();
  viewport.scrollLeft = ix * scale() - ax;
  viewport.scrollTop = iy * scale() - ay;
  redraw();
}

function stepZoom(direction, anchor) {
  const k = ZOOMS.indexOf(S.zoom);
  const next = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, k + direction))];
  if (next !== S.zoom) setZoom(next, anchor);
}

// -- drawing ---------------------------------------------------------------------------------
let drawQueued = false;
function redraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    draw();
  });
}

function dot(p, color, r = 4) {
  const [x, y] = toView(p);
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#000";
  ctx.stroke();
}

function line(points, color, width, closed = false) {
  if (points.length === 0) return;
  ctx.beginPath();
  points.forEach((p, k) => {
    const [x, y] = toView(p);
    if (k === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  if (closed) ctx.closePath();
  ctx.lineWidth = width;
  ctx.strokeStyle = color;
  ctx.stroke();
}

function rect(a, b, color) {
  line([a, [a[0], b[1]], b, [b[0], a[1]]], color, 1.5, true);
}

const GREEN = "#00e000";
const RED = "#ff2020";
const CYAN = "#00ffff";
const MAGENTA = "#ff00ff";

function drawInteraction(d) {
  const sign = d.positive === false ? RED : GREEN;
  if (d.type === "Click") dot([d.y, d.x], sign);
  else if (d.type === "Box") rect([d.y0, d.x0], [d.y1 - 1, d.x1 - 1], CYAN);
  else if (d.type === "ExtremePoints") d.points.forEach((p) => dot(p, CYAN));
  else if (d.type === "InsideOutside") {
    rect(d.corners[0], d.corners[1], CYAN);
    dot(d.inside, GREEN);
  } else if (d.type === "Polygon") line(d.vertices, CYAN, 1.5, true);
  else if (d.type === "Scribble") line(d.points, sign, 3);
}

function draw() {
  if (!S.args) return;
  const s = scale();
  ctx.clearRect(0, 0, view.width, view.height);
  if (S.image) {
    ctx.imageSmoothingEnabled = s < 1;
    ctx.drawImage(S.image, 0, 0, view.width, view.height);
  }
  ctx.imageSmoothingEnabled = false;
  if (S.labels) ctx.drawImage(S.overlay, 0, 0, view.width, view.height);
  const [y0, x0, y1, x1] = S.args.unit_rect;
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#ffff00";
  ctx.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
  (S.args.current || []).forEach(drawInteraction);
  // sent, not yet answered: drawn as they were made
  for (const { data } of S.queue) {
    if (data.kind === "gesture") {
      const color = data.points.length === 1 ? (data.positive ? GREEN : RED) : MAGENTA;
      data.points.forEach((p) => dot(p, color));
      if (data.close) line(data.points, CYAN, 1.5, true);
    } else if (data.kind === "stroke") line(data.points, data.positive ? GREEN : RED, 3);
  }
  const pending = [...S.serverPending, ...S.local.map((p) => [p[0], p[1]])];
  const name = S.gesture ? S.gesture.name : "click";
  if (pending.length) {
    const preview = S.cursor ? [...pending, S.cursor] : pending;
    if (name === "box" || (name === "inside_outside" && pending.length === 1)) {
      if (S.cursor) rect(pending[0], S.cursor, MAGENTA);
    } else line(preview, MAGENTA, 1.5);
    pending.forEach((p) => dot(p, MAGENTA, 3));
  }
  if (S.stroke) line(S.stroke, S.positive ? GREEN : RED, 3);
  updateToolbar(pending.length);
}

function updateToolbar(pendingCount) {
  const sign = $("sign");
  sign.textContent = S.positive ? "positive" : "negative";
  sign.className = S.positive ? "positive" : "negative";
  const g = S.gesture || { name: "click", points: 1, min_points: 1, label: "click" };
  $("close").disabled = !(g.points === null && g.name !== "stroke" && pendingCount >= g.min_points);
  const need = g.points === null ? "" : ` (${pendingCount} of ${g.points})`;
  $("hint").textContent = `Next: ${g.label}${pendingCount ? need : ""}`;
}

// -- gestures --------------------------------------------------------------------------------
function gesture() {
  return S.gesture || { name: "click", points: 1, min_points: 1 };
}

function pendingCount() {
  return S.serverPending.length + S.local.length;
}

function sendGesture(close, positive) {
  const points = S.local.map((p) => [p[0], p[1]]);
  const times = S.local.map((p) => p[2]);
  S.local = [];
  S.serverPending = [];
  S.gesture = S.args.then; // the object has an interaction now: corrections come next
  emit({ kind: "gesture", points, times, positive, close }, true);
}

function addPoint(p, positive) {
  const g = gesture();
  const last = S.local[S.local.length - 1];
  if (last && last[0] === p[0] && last[1] === p[1]) return; // the second click of a double click
  if (g.name === "polygon" && S.local.length >= g.min_points) {
    const [fx, fy] = toView(S.local[0]);
    const [px, py] = toView(p);
    if (Math.hypot(fx - px, fy - py) <= CLOSE_RADIUS) return closeGesture();
  }
  S.local.push([p[0], p[1], Date.now()]);
  if (g.points !== null && pendingCount() >= g.points) sendGesture(false, positive);
  else redraw();
}

function closeGesture() {
  const g = gesture();
  if (g.points === null && g.name !== "stroke" && pendingCount() >= g.min_points) {
    sendGesture(true, S.positive);
    return true;
  }
  return false;
}

function action(name, extra = {}) {
  emit(Object.assign({ kind: "action", name }, extra), ["undo", "reset", "next"].includes(name));
}

function undo() {
  if (S.stroke) S.stroke = null;
  else if (S.local.length) S.local.pop();
  else return action("undo");
  redraw();
}

function reset() {
  S.local = [];
  S.stroke = null;
  action("reset");
}

function nextObject() {
  if (!closeGesture()) S.local = [];
  action("next");
}

function accept() {
  if (closeGesture()) return; // Enter closes an open polygon first
  action("accept");
}

function toggleSign() {
  S.positive = !S.positive;
  action("sign", { value: S.positive });
}

// -- mouse -----------------------------------------------------------------------------------
let press = null;
view.addEventListener("contextmenu", (e) => e.preventDefault());
view.addEventListener("mousedown", (e) => {
  if (!S.args) return;
  S.pan = null;
  viewport.focus({ preventScroll: true });
  if (e.button === 1 || (e.button === 0 && e.shiftKey)) {
    S.pan = { x: e.clientX, y: e.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
    viewport.classList.add("panning");
    e.preventDefault();
    return;
  }
  markAction();
  const positive = e.button === 2 ? !S.positive : S.positive;
  press = { x: e.clientX, y: e.clientY, positive };
  if (gesture().name === "stroke") {
    S.stroke = [toCrop(e)];
    S.strokePositive = positive;
    S.strokeStart = Date.now();
  }
});
window.addEventListener("mousemove", (e) => {
  if (S.pan && e.buttons === 0) {
    // released outside this frame: the release never reached us
    S.pan = null;
    viewport.classList.remove("panning");
  }
  if (S.pan) {
    viewport.scrollLeft = S.pan.left - (e.clientX - S.pan.x);
    viewport.scrollTop = S.pan.top - (e.clientY - S.pan.y);
    return;
  }
  if (!S.args) return;
  const p = toCrop(e);
  if (S.stroke) {
    const last = S.stroke[S.stroke.length - 1];
    if (last[0] !== p[0] || last[1] !== p[1]) S.stroke.push(p);
  }
  S.cursor = p;
  redraw();
});
window.addEventListener("mouseup", (e) => {
  if (S.pan) {
    S.pan = null;
    viewport.classList.remove("panning");
    return;
  }
  if (!press) return;
  const positive = press.positive;
  press = null;
  markAction();
  if (S.stroke) {
    const points = S.stroke;
    S.stroke = null;
    emit({ kind: "stroke", points, times: [S.strokeStart, Date.now()], positive }, true);
    return;
  }
  addPoint(toCrop(e), positive);
});
view.addEventListener("mouseleave", () => {
  S.cursor = null;
  redraw();
});
view.addEventListener("dblclick", () => closeGesture());
viewport.addEventListener(
  "wheel",
  (e) => {
    if (!e.ctrlKey) return; // plain wheel scrolls (pans), Ctrl+wheel zooms at the cursor
    e.preventDefault();
    const r = viewport.getBoundingClientRect();
    stepZoom(e.deltaY < 0 ? 1 : -1, [e.clientX - r.left, e.clientY - r.top]);
  },
  { passive: false },
);

// -- toolbar and keys ------------------------------------------------------------------------
$("zoom_in").onclick = () => stepZoom(1);
$("zoom_out").onclick = () => stepZoom(-1);
$("zoom_fit").onclick = () => setZoom(1);
$("sign").onclick = () => {
  markAction();
  toggleSign();
};
$("close").onclick = () => {
  markAction();
  closeGesture();
};
$("opacity").oninput = (e) => {
  S.opacity = Number(e.target.value);
  localStorage.setItem("al_loop_opacity", String(S.opacity));
  buildOverlay();
  redraw();
};

function typing(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || tag === "button" ||
    target.isContentEditable || (target.getAttribute && target.getAttribute("role") === "combobox");
}

const PAN_STEP = 60;
function shortcut(key, ctrl) {
  if (ctrl) return key === "z" || key === "Z" ? undo : null;
  const keys = {
    " ": toggleSign,
    Escape: reset,
    Enter: accept,
    n: nextObject,
    N: nextObject,
    s: () => action("skip"),
    S: () => action("skip"),
    "+": () => stepZoom(1),
    "=": () => stepZoom(1),
    "-": () => stepZoom(-1),
    0: () => setZoom(1),
    ArrowLeft: () => (viewport.scrollLeft -= PAN_STEP),
    ArrowRight: () => (viewport.scrollLeft += PAN_STEP),
    ArrowUp: () => (viewport.scrollTop -= PAN_STEP),
    ArrowDown: () => (viewport.scrollTop += PAN_STEP),
  };
  return keys[key] || null;
}

function onKey(e) {
  if (window.frameElement && !window.frameElement.isConnected) {
    // this frame was replaced (the next unit): its listener on the page goes with it
    e.currentTarget.removeEventListener("keydown", onKey);
    return;
  }
  if (!S.args || typing(e.target) || e.altKey) return;
  const run = shortcut(e.key, e.ctrlKey || e.metaKey);
  if (!run) return;
  e.preventDefault();
  e.stopPropagation();
  markAction(); // before the action: the wait it may open starts after it
  run();
}
document.addEventListener("keydown", onKey);
// Shortcuts work wherever the page has the focus, not only inside this frame (the frame is
// served from the app's own origin, so its page is reachable; elsewhere this quietly fails).
try {
  const parentDoc = window.parent.document;
  parentDoc.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => parentDoc.removeEventListener("keydown", onKey));
} catch (err) {
  // a cross-origin parent: shortcuts work once the canvas has the focus
}
