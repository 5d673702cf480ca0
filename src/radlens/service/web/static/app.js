// radlens pages: the live worklist and the study viewer. No build step, no libraries.
// Every user-provided string goes into the page with textContent (never innerHTML).
"use strict";
const radlens = (() => {
  const headers = { "X-Requested-With": "radlens" };

  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...options,
      headers: { ...headers, ...(options.headers || {}) } });
    if (response.status === 401) { window.location = "/login"; throw new Error("login needed"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  const label = (id) => (id ? String(id).replaceAll("_", " ") : "");

  // ---- worklist ------------------------------------------------------------------------------
  function worklistRow(s) {
    const tr = el("tr", null, `clickable urgency-${s.urgency}`);
    tr.dataset.id = s.id;
    const badge = el("td");
    badge.appendChild(el("span", s.status === "scored" ? s.urgency : s.status, `badge ${s.urgency}`));
    // the sender aborted its association: not scored until the study is sent again
    if (s.incomplete) badge.appendChild(el("span", "incomplete", "badge incomplete"));
    tr.appendChild(badge);
    // the top output is shown even below the finding threshold (then greyed: "no finding")
    const quiet = s.urgency === "none";
    const size = s.top_size ? ` ${s.top_size}` : ""; // measured by the segmentation run
    const top = s.top_abnormality ? label(s.top_abnormality) + size + (quiet ? " (no finding)" : "") : "";
    tr.appendChild(el("td", top, quiet ? "finding quiet" : "finding"));
    tr.appendChild(el("td", s.top_score == null ? "" : s.top_score.toFixed(3), "num"));
    const patient = el("td");
    const link = el("a", s.patient_name || "(no name)");
    link.href = `/view/${encodeURIComponent(s.id)}`;
    patient.appendChild(link);
    tr.appendChild(patient);
    for (const v of [s.patient_id, s.study_date, s.description, s.n_instances,
      s.received_at ? new Date(s.received_at).toLocaleString() : ""]) tr.appendChild(el("td", v));
    tr.addEventListener("click", () => { window.location = link.href; });
    return tr;
  }

  // a study that failed the chest-CT fitness check: its reason instead of a rank
  function unfitRow(s) {
    const tr = el("tr", null, "clickable not-scorable");
    const link = el("a", s.patient_name || "(no name)");
    link.href = `/view/${encodeURIComponent(s.id)}`;
    const patient = el("td");
    patient.appendChild(link);
    tr.appendChild(el("td", (s.error || "").replace(/^not scorable: /, ""), "reason"));
    tr.appendChild(patient);
    for (const v of [s.patient_id, s.study_date, s.description, s.n_instances,
      s.received_at ? new Date(s.received_at).toLocaleString() : ""]) tr.appendChild(el("td", v));
    tr.addEventListener("click", () => { window.location = link.href; });
    return tr;
  }

  async function refreshWorklist(tbody) {
    const all = await api("/studies");
    const studies = all.filter((s) => s.status !== "not_scorable");
    const unfit = all.filter((s) => s.status === "not_scorable");
    tbody.replaceChildren(...studies.map(worklistRow));
    const unfitBody = document.querySelector("#not-scorable tbody");
    if (unfitBody) {
      unfitBody.replaceChildren(...unfit.map(unfitRow));
      document.getElementById("not-scorable-section").hidden = unfit.length === 0;
    }
    if (!studies.length) {
      const tr = el("tr");
      const td = el("td", "No studies yet: send one by DICOM C-STORE or POST /studies.", "hint");
      td.colSpan = 9;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    document.getElementById("updated").textContent =
      `${all.length} studies · updated ${new Date().toLocaleTimeString()}`;
  }

  function worklist(tbody, everyMs = 3000) {
    const tick = () => refreshWorklist(tbody).catch((e) => {
      document.getElementById("updated").textContent = `update failed: ${e.message}`;
    });
    tick();
    setInterval(tick, everyMs);
  }

  // ---- viewer --------------------------------------------------------------------------------
  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`could not load ${src}`));
      img.src = src;
    });
  }

  async function viewer(root) {
    const id = encodeURIComponent(root.dataset.study);
    // a study whose scoring failed has no canvas: the page states why; only the report remains
    if (root.dataset.state === "failed") { await reportEditor(id); return; }
    const canvas = document.getElementById("canvas");
    const ctx = canvas.getContext("2d");
    const slider = document.getElementById("slice");
    const sliceLabel = document.getElementById("slice-label");
    const opacity = document.getElementById("opacity");
    const info = document.getElementById("overlay-info");
    const toggles = [...document.querySelectorAll("input.overlay-toggle")];
    const state = { z: 0, n: 1, window: "lung", overlay: null, peaks: {}, serial: 0,
      lesions: root.dataset.lesions === "1", selected: null, textMap: null };
    const lesionToggle = document.getElementById("lesion-toggle");

    async function draw() {
      const serial = ++state.serial;
      const z = state.z;
      sliceLabel.textContent = `${z + 1} / ${state.n}`;
      try {
        const ct = await loadImage(`/studies/${id}/slices/${z}.png?window=${state.window}`);
        const heat = state.overlay
          ? await loadImage(`/studies/${id}/heatmaps/${encodeURIComponent(state.overlay)}/${z}.png`)
          : state.textMap
            ? await loadImage(`/studies/${id}/text-map/${z}.png?text=${encodeURIComponent(state.textMap)}`)
            : null;
        const showLesions = state.lesions && (!lesionToggle || lesionToggle.checked);
        const selected = state.selected == null ? "" : `?selected=${state.selected}`;
        const contours = showLesions ? await loadImage(`/studies/${id}/lesions/${z}.png${selected}`) : null;
        if (serial !== state.serial) return; // a newer draw is on its way
        ctx.imageSmoothingEnabled = true;
        ctx.globalAlpha = 1;
        ctx.drawImage(ct, 0, 0, canvas.width, canvas.height);
        if (heat) {
          ctx.globalAlpha = Number(opacity.value) / 100;
          ctx.drawImage(heat, 0, 0, canvas.width, canvas.height);
          ctx.globalAlpha = 1;
        }
        if (contours) {
          ctx.imageSmoothingEnabled = false; // crisp outlines
          ctx.drawImage(contours, 0, 0, canvas.width, canvas.height);
        }
        canvas.dataset.drawn = `${z}:${state.window}:${state.overlay || state.textMap || ""}`;
      } catch (e) { sliceLabel.textContent = e.message; }
    }

    const go = (z) => {
      state.z = Math.max(0, Math.min(state.n - 1, z));
      slider.value = state.z;
      draw();
    };
    const setWindow = (name) => {
      state.window = name;
      for (const b of document.querySelectorAll("button.window")) {
        b.classList.toggle("active", b.dataset.window === name);
      }
      draw();
    };
    const setOverlay = (key, jump) => {
      state.overlay = key;
      if (key) state.textMap = null;
      for (const t of toggles) t.checked = t.value === key;
      info.textContent = key ? `heatmap: ${label(key).replace("@", " — ")}` : "heatmap off";
      if (key && jump && state.peaks[key] != null) go(state.peaks[key]); else draw();
    };

    let geo;
    try { geo = await api(`/studies/${id}/geometry`); }
    catch (e) { sliceLabel.textContent = `images unavailable: ${e.message}`; await reportEditor(id); return; }
    state.n = geo.shape[0];
    state.peaks = geo.heatmap_peaks || {};
    slider.max = state.n - 1;
    state.z = Math.floor(state.n / 2);
    slider.value = state.z;
    slider.addEventListener("input", () => go(Number(slider.value)));
    opacity.addEventListener("input", draw);
    for (const b of document.querySelectorAll("button.window")) {
      b.addEventListener("click", () => setWindow(b.dataset.window));
    }
    for (const t of toggles) {
      t.addEventListener("change", () => setOverlay(t.checked ? t.value : null, true));
    }
    canvas.addEventListener("wheel", (ev) => { ev.preventDefault(); go(state.z + (ev.deltaY > 0 ? 1 : -1)); },
      { passive: false });
    document.addEventListener("keydown", (ev) => {
      if (ev.target instanceof HTMLTextAreaElement || ev.target instanceof HTMLInputElement && ev.target.type === "text") return;
      const step = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 }[ev.key];
      if (step) { ev.preventDefault(); go(state.z + step); return; }
      if (ev.key === "Home") go(0);
      else if (ev.key === "End") go(state.n - 1);
      else if (["1", "2", "3"].includes(ev.key)) setWindow(["lung", "mediastinum", "bone"][Number(ev.key) - 1]);
      else if (ev.key === "h" && toggles.length) setOverlay(state.overlay ? null : toggles[0].value, true);
    });
    if (lesionToggle) lesionToggle.addEventListener("change", draw);
    // a lesion candidate's row: go to its slice and highlight its contour
    for (const row of document.querySelectorAll("#lesions tr.lesion")) {
      row.classList.add("clickable");
      row.addEventListener("click", (ev) => {
        ev.preventDefault();
        state.selected = Number(row.dataset.label);
        if (lesionToggle) lesionToggle.checked = true;
        go(Number(row.dataset.slice));
      });
    }
    const textForm = document.getElementById("text-map-form");
    if (textForm) textForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const sentence = document.getElementById("text-map-sentence").value.trim();
      const textInfo = document.getElementById("text-map-info");
      if (!sentence) return;
      try {
        const where = await api(`/studies/${id}/text-map?text=${encodeURIComponent(sentence)}`);
        setOverlay(null, false);
        state.textMap = where.text;
        info.textContent = `sentence map: "${where.text}"`;
        textInfo.textContent = `peak on slice ${where.peak_slice + 1}`;
        go(where.peak_slice);
      } catch (e) { textInfo.textContent = e.message; }
    });
    setWindow("lung");
    if (toggles.length) setOverlay(toggles[0].value, true); else setOverlay(null, false);
    await reportEditor(id);
  }

  async function reportEditor(id) {
    const report = document.getElementById("report");
    const state = document.getElementById("report-state");
    const buttons = [...document.querySelectorAll("#save,#sign")];
    const show = (r) => {
      report.value = r.text;
      state.textContent = r.signed ? `Signed by ${r.signed_by} at ${new Date(r.signed_at).toLocaleString()}`
        : r.edited_text != null ? "Edited draft — not signed" : "Model draft — not signed";
      state.className = r.signed ? "signed" : "draft";
      if (r.signed) { report.readOnly = true; for (const b of buttons) b.disabled = true; }
    };
    const put = () => api(`/studies/${id}/report`, { method: "PUT",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: report.value }) });
    show(await api(`/studies/${id}/report`));
    const save = document.getElementById("save");
    const sign = document.getElementById("sign");
    if (save) save.addEventListener("click", async () => {
      try { show(await put()); } catch (e) { state.textContent = e.message; }
    });
    if (sign) sign.addEventListener("click", async () => {
      if (!window.confirm("Sign this report? It cannot be changed afterwards.")) return;
      try { await put(); show(await api(`/studies/${id}/report/sign`, { method: "POST" })); }
      catch (e) { state.textContent = e.message; }
    });
  }

  return { worklist, viewer };
})();
