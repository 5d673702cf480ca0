// radlens pages: worklist polling and the study viewer. Text goes in with textContent only.
"use strict";
const radlens = (() => {
  const headers = { "X-Requested-With": "radlens" };

  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...options,
      headers: { ...headers, ...(options.headers || {}) } });
    if (response.status === 401) { window.location = "/login"; throw new Error("login"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
  }

  async function refreshWorklist(tbody) {
    const studies = await api("/studies");
    tbody.replaceChildren();
    for (const s of studies) {
      const tr = document.createElement("tr");
      tr.className = `clickable urgency-${s.urgency}`;
      tr.dataset.id = s.id;
      for (const v of [s.urgency, s.top_abnormality, s.top_score == null ? "" : s.top_score.toFixed(3),
        s.patient_name, s.patient_id, s.study_date, s.description, s.status, s.received_at]) cell(tr, v);
      tr.addEventListener("click", () => { window.location = `/view/${s.id}`; });
      tbody.appendChild(tr);
    }
    document.getElementById("updated").textContent = `(updated ${new Date().toLocaleTimeString()})`;
  }

  function worklist(tbody) {
    const tick = () => refreshWorklist(tbody).catch((e) => console.warn(e.message));
    tick();
    setInterval(tick, 5000);
  }

  async function viewer(root) {
    const id = root.dataset.study;
    const slider = document.getElementById("slice");
    const label = document.getElementById("slice-label");
    const windowSel = document.getElementById("window");
    const overlaySel = document.getElementById("overlay");
    const ct = document.getElementById("ct");
    const heat = document.getElementById("heat");
    const report = document.getElementById("report");
    const state = document.getElementById("report-state");

    const draw = () => {
      const z = slider.value;
      label.textContent = `${Number(z) + 1} / ${Number(slider.max) + 1}`;
      ct.src = `/studies/${id}/slices/${z}.png?window=${encodeURIComponent(windowSel.value)}`;
      if (overlaySel.value) {
        heat.src = `/studies/${id}/heatmaps/${encodeURIComponent(overlaySel.value)}/${z}.png`;
        heat.hidden = false;
      } else heat.hidden = true;
    };
    try {
      const geo = await api(`/studies/${id}/geometry`);
      slider.max = geo.shape[0] - 1;
      slider.value = Math.floor(geo.shape[0] / 2);
      if (overlaySel.options.length > 1) overlaySel.selectedIndex = 1;
      draw();
    } catch (e) { label.textContent = e.message; }
    for (const el of [slider, windowSel, overlaySel]) el.addEventListener("input", draw);
    ct.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      slider.value = Number(slider.value) + (ev.deltaY > 0 ? 1 : -1);
      draw();
    });

    const showReport = (r) => {
      report.value = r.text;
      state.textContent = r.signed ? `Signed by ${r.signed_by} at ${r.signed_at}` : "Draft — not signed";
      if (r.signed) { report.readOnly = true; for (const b of document.querySelectorAll("#save,#sign")) b.disabled = true; }
    };
    showReport(await api(`/studies/${id}/report`));
    const save = document.getElementById("save");
    const sign = document.getElementById("sign");
    if (save) save.addEventListener("click", async () => {
      try { showReport(await api(`/studies/${id}/report`, { method: "PUT",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: report.value }) })); }
      catch (e) { state.textContent = e.message; }
    });
    if (sign) sign.addEventListener("click", async () => {
      try {
        await api(`/studies/${id}/report`, { method: "PUT", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ text: report.value }) });
        showReport(await api(`/studies/${id}/report/sign`, { method: "POST" }));
      } catch (e) { state.textContent = e.message; }
    });
  }

  return { worklist, viewer };
})();
