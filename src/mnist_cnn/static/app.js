// Digit Board in the browser: draw, send the drawing to POST /api/predict, show the reading.
//
// The strokes are kept as points (in units of the board's height), so the board can be
// redrawn at any size and exported at a fixed one. What the model reads is always a
// white-on-black PNG rendered from those strokes; the red boxes live on a second canvas
// above the ink, so they never reach the model.
"use strict";

(() => {
  // Height of the PNG sent to the API (the width follows the board): digits drawn there are
  // still about three times the 20 pixels MNIST gives them, and a small image is read faster
  // (one digit: 2 ms less than at 140 px, read as well; docs/experiments.md).
  const EXPORT_HEIGHT = 100;
  const STROKE = 0.065; // pen width as a share of the board's height
  const LIVE_DELAY_MS = 150; // while drawing, read at most this often
  // Uploads the server would refuse (over 10 MB or 40 megapixels) are sent as a smaller copy:
  // a 48-megapixel phone photo still has its digits, at a few megapixels.
  const UPLOAD_BYTES = 8e6;
  const UPLOAD_PIXELS = 16e6;
  const UPLOAD_SIDE = 4096; // the longer side of the smaller copy
  const PAPER = "#111318"; // on screen; the PNG sent is pure white on black
  const INK = "#f7f7f7";
  const NAMES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"];

  const $ = (id) => document.getElementById(id);
  const wrap = $("canvas-wrap");
  const ink = $("ink");
  const overlay = $("overlay");
  const hint = $("hint");
  const result = $("result");
  const numberEl = $("number");
  const statusEl = $("status");
  const errorEl = $("error");
  const picker = $("digit-picker");
  const bars = $("bars");
  const barsFor = $("bars-for");
  const inputsEl = $("inputs");
  const upload = $("upload");
  const sourceNote = $("source-note");

  const state = {
    strokes: [], // each: array of [x, y] in board-height units
    active: null, // pointerId drawing now
    upload: null, // {file, image} when an uploaded picture is on the board
    reading: null, // the last reading shown
    frame: null, // what the boxes' pixels refer to: the exported board or an uploaded image
    selected: 0, // the digit whose probabilities are shown
    generation: 0, // bumped on clear: late answers for an old board are dropped
    timer: null,
    busy: false,
    again: false,
  };

  // ---- Sizing: the canvases follow the element's size at the screen's pixel density.

  function boardSize() {
    const rect = wrap.getBoundingClientRect();
    return { w: rect.width, h: rect.height };
  }

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = boardSize();
    for (const canvas of [ink, overlay]) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
    }
    redrawInk();
    drawBoxes();
  }

  // ---- Drawing.

  function penStyle(ctx, height, color) {
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = Math.max(STROKE * height, 3);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function drawStroke(ctx, points, height) {
    ctx.beginPath();
    ctx.moveTo(points[0][0] * height, points[0][1] * height);
    if (points.length === 1) {
      ctx.arc(points[0][0] * height, points[0][1] * height, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    for (const [x, y] of points.slice(1)) ctx.lineTo(x * height, y * height);
    ctx.stroke();
  }

  function fitRect(image, w, h) {
    // The largest rectangle with the image's aspect ratio, centred in w x h.
    const scale = Math.min(w / image.naturalWidth, h / image.naturalHeight);
    const iw = image.naturalWidth * scale;
    const ih = image.naturalHeight * scale;
    return { x: (w - iw) / 2, y: (h - ih) / 2, w: iw, h: ih, scale };
  }

  function paint(ctx, w, h, paper, color) {
    ctx.fillStyle = paper;
    ctx.fillRect(0, 0, w, h);
    if (state.upload?.image) {
      const r = fitRect(state.upload.image, w, h);
      // Transparent parts over white paper (or black), as the server reads them.
      ctx.fillStyle = state.upload.backdrop;
      ctx.fillRect(r.x, r.y, r.w, r.h);
      ctx.drawImage(state.upload.image, r.x, r.y, r.w, r.h);
    }
    penStyle(ctx, h, color);
    for (const points of state.strokes) drawStroke(ctx, points, h);
  }

  function redrawInk() {
    const { w, h } = boardSize();
    const ctx = ink.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    paint(ctx, w, h, PAPER, INK);
    hint.hidden = state.strokes.length > 0 || state.upload !== null;
  }

  function point(event) {
    const rect = ink.getBoundingClientRect();
    return [(event.clientX - rect.left) / rect.height, (event.clientY - rect.top) / rect.height];
  }

  ink.addEventListener("pointerdown", (event) => {
    if (state.active !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    if (state.upload) clearBoard(); // drawing starts a fresh board after an upload
    state.active = event.pointerId;
    ink.setPointerCapture(event.pointerId);
    state.strokes.push([point(event)]);
    redrawInk();
  });

  ink.addEventListener("pointermove", (event) => {
    if (event.pointerId !== state.active) return;
    const stroke = state.strokes[state.strokes.length - 1];
    if (!stroke) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    const { h } = boardSize();
    const ctx = ink.getContext("2d");
    penStyle(ctx, h, INK);
    ctx.beginPath();
    ctx.moveTo(stroke[stroke.length - 1][0] * h, stroke[stroke.length - 1][1] * h);
    for (const e of events.length ? events : [event]) {
      const p = point(e);
      stroke.push(p);
      ctx.lineTo(p[0] * h, p[1] * h);
    }
    ctx.stroke();
    scheduleRead();
  });

  function endStroke(event) {
    if (event.pointerId !== state.active) return;
    state.active = null;
    clearTimeout(state.timer);
    state.timer = null;
    readBoard();
  }
  ink.addEventListener("pointerup", endStroke);
  ink.addEventListener("pointercancel", endStroke);

  // ---- Talking to the API.

  function scheduleRead() {
    // A throttle, not a pure debounce: a long stroke still gets readings along the way.
    if (state.timer === null) {
      state.timer = setTimeout(() => {
        state.timer = null;
        readBoard();
      }, LIVE_DELAY_MS);
    }
  }

  function exportBoard() {
    const { w, h } = boardSize();
    const canvas = document.createElement("canvas");
    canvas.height = EXPORT_HEIGHT;
    canvas.width = Math.round((EXPORT_HEIGHT * w) / h);
    paint(canvas.getContext("2d"), canvas.width, canvas.height, "#000", "#fff");
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  async function readBoard() {
    // One request at a time; if the board changes meanwhile, read it once more afterwards.
    if (state.busy) {
      state.again = true;
      return;
    }
    if (state.strokes.length === 0 && !state.upload) return;
    state.busy = true;
    try {
      const generation = state.generation;
      let file;
      let frame;
      if (state.upload && state.strokes.length === 0) {
        file = state.upload.file; // send the picture itself, at its own resolution
        frame = state.upload.image ? { image: state.upload.image } : null;
      } else {
        file = await exportBoard();
        frame = { board: true };
      }
      await predict(file, frame, generation);
    } finally {
      state.busy = false;
      if (state.again) {
        state.again = false;
        readBoard();
      }
    }
  }

  // 503: the model is still loading, or the server is busy. Ask again when it says.
  const MAX_RETRIES = 60;

  function retryAfter(response) {
    const seconds = Number(response.headers.get("Retry-After"));
    return 1000 * (seconds > 0 ? Math.min(seconds, 10) : 1);
  }

  async function predict(file, frame, generation, retries = 0) {
    const form = new FormData();
    form.append("file", file, file.name || "board.png");
    let response;
    try {
      response = await fetch("/api/predict?inputs=png", { method: "POST", body: form });
    } catch (err) {
      if (generation === state.generation) showError("Cannot reach the server. Is it running?");
      return;
    }
    // A proxy in between may answer with an HTML or text page instead of JSON.
    const body = await response.json().catch(() => null);
    if (generation !== state.generation) return; // the board was cleared meanwhile
    if (response.status === 503 && retries < MAX_RETRIES) {
      showError(detailOf(body) || "The server is busy; trying again.");
      await new Promise((resolve) => setTimeout(resolve, retryAfter(response)));
      if (generation === state.generation) await predict(file, frame, generation, retries + 1);
      return;
    }
    if (!response.ok || body === null) {
      const status = `${response.status}${response.statusText ? ` (${response.statusText})` : ""}`;
      showError(detailOf(body) || `The server answered ${status}.`);
      return;
    }
    state.frame = frame;
    showReading(body);
  }

  function detailOf(body) {
    // This server says what is wrong in "detail": a sentence, or FastAPI's list of problems.
    const detail = body?.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d?.msg ?? String(d)).join("; ");
    return "";
  }

  // ---- Showing the reading.

  function percent(p) {
    return `${(100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1)}%`;
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
  }

  function labelOf(digit) {
    // A digit below the model's confidence threshold has no label: shown as "?".
    return digit.label === null || digit.label === undefined ? "?" : String(digit.label);
  }

  function showReading(reading) {
    errorEl.hidden = true;
    state.reading = reading;
    state.selected = Math.min(state.selected, Math.max(reading.digits.length - 1, 0));
    result.dataset.status = reading.status;
    // An uncertain reading has no prediction; show what was read, "?" where unsure.
    numberEl.textContent = reading.prediction ?? (reading.digits.map(labelOf).join("") || "–");
    if (reading.status === "no digit") {
      statusEl.textContent = "No digit found. Draw one larger or with bolder strokes.";
    } else if (reading.status === "uncertain") {
      const unsure = reading.digits.filter((d) => labelOf(d) === "?").length;
      const which =
        reading.digits.length === 1
          ? "this digit"
          : unsure > 0
            ? `${unsure} of the digits`
            : `the whole number (${percent(reading.confidence)})`;
      statusEl.textContent = `Uncertain: the model is not sure about ${which}. Try writing it more clearly.`;
    } else {
      const n = reading.digits.length;
      statusEl.textContent = `${n} digit${n === 1 ? "" : "s"}, confidence ${percent(reading.confidence)}`;
    }
    renderPicker();
    renderBars();
    renderInputs(reading.inputs || []);
    drawBoxes();
  }

  function select(index) {
    state.selected = index;
    renderPicker();
    renderBars();
    for (const [i, button] of inputsEl.querySelectorAll("button").entries()) {
      button.setAttribute("aria-pressed", String(i === index));
    }
    drawBoxes();
  }

  function renderPicker() {
    const digits = state.reading?.digits || [];
    picker.hidden = digits.length < 2;
    picker.replaceChildren(
      ...digits.map((digit, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `${labelOf(digit)} · ${percent(digit.confidence)}`;
        button.setAttribute("aria-pressed", String(i === state.selected));
        button.setAttribute(
          "aria-label",
          `Digit ${i + 1}: ${labelOf(digit)}, ${percent(digit.confidence)}`,
        );
        button.addEventListener("click", () => select(i));
        return button;
      }),
    );
  }

  function renderBars() {
    const digit = state.reading?.digits?.[state.selected];
    const probabilities = digit ? digit.probabilities : new Array(10).fill(0);
    const top = digit ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    const many = (state.reading?.digits?.length || 0) > 1;
    barsFor.textContent = many ? `(digit ${state.selected + 1} of ${state.reading.digits.length})` : "";
    bars.replaceChildren(
      ...probabilities.map((p, label) => {
        const item = document.createElement("li");
        item.className = label === top ? "top" : "";
        item.innerHTML =
          '<span class="visually-hidden"></span>' +
          '<span class="label" aria-hidden="true"></span>' +
          '<span class="track" aria-hidden="true"><span class="fill"></span></span>' +
          '<span class="value" aria-hidden="true"></span>';
        // Screen readers get one phrase per row; the bar itself is decoration.
        item.querySelector(".visually-hidden").textContent = `${label}: ${digit ? percent(p) : "no reading"}`;
        item.querySelector(".label").textContent = label;
        item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
        item.querySelector(".value").textContent = digit ? percent(p) : "";
        return item;
      }),
    );
  }

  function renderInputs(images) {
    if (!images.length) {
      inputsEl.innerHTML = '<p class="muted small">Nothing yet.</p>';
      return;
    }
    inputsEl.replaceChildren(
      ...images.map((src, i) => {
        const digit = state.reading.digits[i];
        const figure = document.createElement("figure");
        const button = document.createElement("button");
        button.type = "button";
        button.setAttribute("aria-pressed", String(i === state.selected));
        button.addEventListener("click", () => select(i));
        const img = document.createElement("img");
        img.src = src;
        img.width = 28;
        img.height = 28;
        img.alt = `The 28 by 28 image the model read as ${digit ? labelOf(digit) : "nothing"}`;
        button.append(img);
        const caption = document.createElement("figcaption");
        caption.textContent = digit ? labelOf(digit) : "";
        figure.append(button, caption);
        return figure;
      }),
    );
  }

  function drawBoxes() {
    const { w, h } = boardSize();
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const digits = state.reading?.digits || [];
    if (!state.frame || !digits.length) return;
    // Boxes are in the pixels of what was sent; map them onto the board as it is now.
    const { x: ox, y: oy, scale } = state.frame.image
      ? fitRect(state.frame.image, w, h)
      : { x: 0, y: 0, scale: h / EXPORT_HEIGHT };
    const font = Math.max(13, Math.round(h * 0.055));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    digits.forEach((digit, i) => {
      const [x0, y0, x1, y1] = digit.box;
      const bx = ox + x0 * scale;
      const by = oy + y0 * scale;
      const bw = (x1 - x0) * scale;
      const bh = (y1 - y0) * scale;
      const chosen = digits.length > 1 && i === state.selected;
      ctx.strokeStyle = "#ff453a";
      ctx.lineWidth = chosen ? 3.5 : 2;
      ctx.strokeRect(bx, by, bw, bh);
      // The digit's name in a red tag above the box (inside it when there is no room).
      const text = NAMES[digit.label] ?? "?";
      const tw = ctx.measureText(text).width + 12;
      const th = font + 8;
      const ty = by - th >= 0 ? by - th : by;
      const tx = Math.max(0, Math.min(bx - (chosen ? 1.75 : 1), w - tw)); // whole on the board
      ctx.fillStyle = "#ff453a";
      ctx.fillRect(tx, ty, tw, th);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, tx + 6, ty + th / 2 + 1);
    });
  }

  // ---- Clear, undo, upload, keys.

  function resetReading() {
    state.reading = null;
    state.frame = null;
    state.selected = 0;
    result.dataset.status = "empty";
    numberEl.textContent = "–";
    statusEl.textContent = "Draw a digit to start.";
    errorEl.hidden = true;
    picker.hidden = true;
    picker.replaceChildren();
    renderBars();
    renderInputs([]);
    drawBoxes();
  }

  function clearBoard() {
    if (state.active !== null) {
      // Cleared mid-stroke (N, or Clear with another finger): that stroke ends here.
      if (ink.hasPointerCapture(state.active)) ink.releasePointerCapture(state.active);
      state.active = null;
    }
    state.generation += 1;
    state.strokes = [];
    if (state.upload?.url) URL.revokeObjectURL(state.upload.url);
    state.upload = null;
    sourceNote.textContent = "";
    clearTimeout(state.timer);
    state.timer = null;
    state.again = false;
    redrawInk();
    resetReading();
  }

  function undo() {
    if (state.active !== null) return;
    if (!state.strokes.length) {
      if (state.upload) clearBoard();
      return;
    }
    state.strokes.pop();
    state.generation += 1;
    redrawInk();
    if (state.strokes.length || state.upload) readBoard();
    else resetReading();
  }

  async function useFile(file) {
    if (!file) return;
    clearBoard();
    const url = URL.createObjectURL(file);
    const image = new Image();
    const loaded = await new Promise((resolve) => {
      image.onload = () => resolve(true);
      image.onerror = () => resolve(false); // not something the browser can show: the API says why
      image.src = url;
    });
    const big = file.size > UPLOAD_BYTES || image.naturalWidth * image.naturalHeight > UPLOAD_PIXELS;
    const paper = loaded ? backdrop(image) : "#fff";
    const sent = loaded && big ? await smallerCopy(image, file.name, paper) : file;
    state.upload = { file: sent, url, image: loaded ? image : null, backdrop: paper };
    sourceNote.textContent = loaded
      ? `${file.name}${sent === file ? "" : " (sent as a smaller copy)"}: draw to start over`
      : `${file.name}: this browser cannot show it; the reading is the server's`;
    redrawInk();
    readBoard();
  }

  function backdrop(image) {
    // What the server puts under transparent parts: white paper, but black under light
    // strokes on a transparent ground (over half the image clear), which white would hide.
    const scale = Math.min(1, 256 / Math.max(image.naturalWidth, image.naturalHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
    const ctx = canvas.getContext("2d");
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const pixels = data.length / 4; // RGBA
    let clear = 0;
    let weight = 0;
    let level = 0;
    for (let i = 0; i < data.length; i += 4) {
      const alpha = data[i + 3] / 255;
      if (alpha < 0.5) clear += 1;
      weight += alpha;
      level += alpha * (0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]);
    }
    const light = weight > 0 && level / weight > 127.5;
    return clear > pixels / 2 && light ? "#000" : "#fff";
  }

  function smallerCopy(image, name, paper) {
    // A JPEG with the longer side UPLOAD_SIDE, on `paper`, as the server would read it.
    const scale = Math.min(1, UPLOAD_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(image.naturalWidth * scale);
    canvas.height = Math.round(image.naturalHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = paper;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const stem = name.replace(/\.[^.]*$/, "");
    return new Promise((resolve) =>
      canvas.toBlob((blob) => resolve(new File([blob], `${stem}.jpg`, { type: "image/jpeg" })), "image/jpeg", 0.92),
    );
  }

  $("clear").addEventListener("click", clearBoard);
  $("undo").addEventListener("click", undo);
  upload.addEventListener("change", () => {
    useFile(upload.files[0]);
    upload.value = ""; // choosing the same file again still fires "change"
  });

  wrap.addEventListener("dragover", (event) => {
    event.preventDefault();
    wrap.classList.add("dragging");
  });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("dragging"));
  // A file dropped anywhere on the page is read: beside the board, the browser would
  // otherwise open it in place of the page, and the drawing would be lost.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    wrap.classList.remove("dragging");
    if (event.dataTransfer?.files?.length) useFile(event.dataTransfer.files[0]);
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.toLowerCase();
    const plain = !event.ctrlKey && !event.metaKey && !event.altKey;
    if (key === "n" && plain) {
      event.preventDefault();
      clearBoard();
    } else if ((key === "u" && plain) || (key === "z" && (event.ctrlKey || event.metaKey))) {
      event.preventDefault();
      undo();
    }
  });

  async function showModel(retries = 0) {
    const info = $("model-info");
    try {
      const response = await fetch("/api/model");
      if (response.status === 503 && retries < MAX_RETRIES) {
        setTimeout(() => showModel(retries + 1), retryAfter(response));
        return; // "Loading the model…" stays until it is loaded
      }
      const model = await response.json();
      const parts = [`Model ${model.name}`];
      if (model.test_accuracy != null) parts.push(`test accuracy ${(100 * model.test_accuracy).toFixed(2)}%`);
      if (model.params != null) parts.push(`${model.params.toLocaleString("en")} parameters`);
      info.textContent = parts.join(" · ");
    } catch {
      info.textContent = "Model information unavailable";
    }
  }

  new ResizeObserver(resize).observe(wrap);
  // Zooming or moving to a screen of another pixel density changes no CSS size: watch it too.
  function watchDensity() {
    const query = matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    query.addEventListener("change", () => {
      resize();
      watchDensity();
    }, { once: true });
  }
  watchDensity();
  resize();
  resetReading();
  showModel();
})();
