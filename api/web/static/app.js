// videofactory's page: what every page shares. No dependencies, no build step.
// Requests go to our own /v1 API with the session cookie; whatever changes something carries
// the session's CSRF token (from <meta name="csrf-token">) and the chosen brand.
"use strict";

const VF = (() => {
  const meta = (name) => {
    const found = document.querySelector(`meta[name="${name}"]`);
    return found ? found.content : "";
  };
  const csrf = meta("csrf-token");
  const profileId = meta("profile-id");

  function headers(extra) {
    const sent = { "X-CSRF-Token": csrf, ...extra };
    if (profileId) sent["X-Profile-Id"] = profileId;
    return sent;
  }

  function signInAgain() {
    const back = window.location.pathname + window.location.search;
    window.location.assign(`/sign-in?next=${encodeURIComponent(back)}`);
  }

  // One API call: resolves to {ok, status, data}; data is the JSON body (or null).
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: headers({}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { error: { code: "offline",
        message: "The server could not be reached. Check the connection and try again." } } };
    }
    if (response.status === 401) signInAgain();
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) {
      data = await response.json();
    }
    return { ok: response.ok, status: response.status, data };
  }

  // A file as the raw body of a POST/PUT, with upload progress (fetch has none).
  function upload(method, path, file, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.withCredentials = true;
      Object.entries(headers({ "Content-Type": file.type || "application/octet-stream" }))
        .forEach(([name, value]) => xhr.setRequestHeader(name, value));
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 401) signInAgain();
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, data });
      });
      xhr.addEventListener("error", () => resolve({ ok: false, status: 0, data: { error: {
        code: "offline", message: "The upload was interrupted. Try again." } } }));
      xhr.send(file);
    });
  }

  // Build an element: el("a", {href: "/x", text: "X"}, [children]).
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "hidden") node.hidden = Boolean(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function notice(message, kind) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = message;
    box.className = `notice ${kind || ""}`;
  }

  // --- forms -------------------------------------------------------------------------------

  function controls(form) {
    return Array.from(form.elements).filter((control) => control.name
      && control.name !== "csrf_token" && !control.matches(":disabled")
      && control.type !== "submit" && control.type !== "button");
  }

  // What one control sends, or undefined for nothing.
  function valueOf(control) {
    const kind = control.dataset.kind || "";
    const raw = control.value;
    if (kind === "bool") return control.checked;
    if (kind === "bool-choice") return raw === "" ? undefined : raw === "true";
    if (kind === "file") return undefined; // uploaded separately
    if (raw.trim() === "") return undefined;
    if (kind === "number") return Number(raw);
    if (kind === "lines") return raw.split("\n").map((line) => line.trim()).filter(Boolean);
    if (kind === "words") return raw.split(/[\s,]+/).map((word) => word.trim()).filter(Boolean);
    if (kind === "json-option") {
      const data = control.selectedOptions[0].dataset.value;
      return data && data !== "{}" ? JSON.parse(data) : undefined;
    }
    return raw;
  }

  // Put `value` at a dotted path: "source.scenes.2.narration" makes arrays for numbers.
  function place(target, path, value) {
    const parts = path.split(".");
    let node = target;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const key = /^\d+$/.test(part) ? Number(part) : part;
      if (last) {
        node[key] = value;
        return;
      }
      if (node[key] === undefined) node[key] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[key];
    });
  }

  function isChanged(control) {
    if (control.type === "checkbox") return control.checked !== control.defaultChecked;
    if (control.tagName === "SELECT") {
      return Array.from(control.options).some((o) => o.selected !== o.defaultSelected);
    }
    return control.value !== control.defaultValue;
  }

  // The form as a nested object; `onlyChanged` sends only what the person changed.
  function formValue(form, { onlyChanged = false, clearEmpty = false } = {}) {
    const body = {};
    controls(form).forEach((control) => {
      if (onlyChanged && !isChanged(control)) return;
      let value = valueOf(control);
      // A text box emptied on purpose clears its setting ("" is how the API clears one).
      if (value === undefined && clearEmpty && control.value.trim() === ""
          && control.tagName !== "SELECT") {
        const kind = control.dataset.kind || "";
        if (kind === "") value = "";
        else if (kind === "words" || kind === "lines") value = [];
      }
      if (value === undefined) return;
      if (control.dataset.kind === "voice") {
        const [engine, voice] = value.split(":");
        const language = control.selectedOptions[0].dataset.language;
        place(body, "voice.engine", engine);
        place(body, "voice.voice", voice);
        if (language) place(body, "voice.language", language);
        return;
      }
      place(body, control.name, value);
    });
    return body;
  }

  function markSaved(form) {
    controls(form).forEach((control) => {
      if (control.type === "checkbox") control.defaultChecked = control.checked;
      else if (control.tagName === "SELECT") {
        Array.from(control.options).forEach((o) => { o.defaultSelected = o.selected; });
      } else if (control.type !== "file") control.defaultValue = control.value;
    });
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach((node) => node.remove());
    form.querySelectorAll("[aria-invalid]").forEach((node) => {
      node.removeAttribute("aria-invalid");
      const ids = (node.getAttribute("aria-describedby") || "").split(" ")
        .filter((id) => id && !id.endsWith("-error"));
      if (ids.length) node.setAttribute("aria-describedby", ids.join(" "));
      else node.removeAttribute("aria-describedby");
    });
    const box = form.querySelector(".form-error");
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  // The control an API error's `field` names: the exact name, an alias, else its parent.
  function controlFor(form, field) {
    const usable = Array.from(form.elements).filter((c) => c.name && !c.matches(":disabled"));
    let path = field;
    while (path) {
      const exact = usable.find((c) => c.name === path);
      if (exact) return exact;
      const alias = usable.find((c) => (c.dataset.fields || "").split(" ").includes(path));
      if (alias) return alias;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    return null;
  }

  // Show an API error beside the field it names (or at the top of the form).
  function showError(form, error) {
    clearErrors(form);
    let message = (error && error.message) || "Something went wrong. Try again.";
    const control = error && error.field ? controlFor(form, error.field) : null;
    if (control) {
      // Beside its field the message needs no "source.idea: " in front.
      if (message.startsWith(`${error.field}: `)) message = message.slice(error.field.length + 2);
      message = message.charAt(0).toUpperCase() + message.slice(1);
      const id = `${control.id || control.name}-error`;
      const note = el("p", { class: "field-error error", id, text: message });
      control.insertAdjacentElement("afterend", note);
      control.setAttribute("aria-invalid", "true");
      const described = control.getAttribute("aria-describedby");
      control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
      control.focus();
      return;
    }
    const box = form.querySelector(".form-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
      box.focus();
    } else {
      notice(message, "error");
    }
  }

  // --- live updates -----------------------------------------------------------------------

  // Follow a Server-Sent Events stream; the browser reconnects by itself until `end`.
  function follow(url, name, onState, onEnd) {
    const source = new EventSource(url, { withCredentials: true });
    source.addEventListener(name, (event) => onState(JSON.parse(event.data)));
    source.addEventListener("end", (event) => {
      source.close();
      if (onEnd) onEnd(JSON.parse(event.data));
    });
    source.addEventListener("error", () => {
      // A closed stream reconnects after `retry:`; a signed-out one would loop, so check.
      if (source.readyState === EventSource.CLOSED) notice("Live updates stopped; reload the page.", "error");
    });
    window.addEventListener("pagehide", () => source.close());
    return source;
  }

  // --- voice samples ----------------------------------------------------------------------

  function samplePlayers() {
    document.querySelectorAll("[data-sample-voice]").forEach((button) => {
      button.addEventListener("click", async () => {
        const select = document.getElementById(button.dataset.sampleVoice);
        const speed = document.getElementById(button.dataset.sampleSpeed);
        const player = document.getElementById(`${button.dataset.sampleVoice}-sample`);
        const params = new URLSearchParams();
        const option = select.selectedOptions[0];
        if (select.value) {
          const [engine, voice] = select.value.split(":");
          params.set("engine", engine);
          params.set("voice", voice);
          params.set("language", option.dataset.language || "en");
        }
        if (speed && speed.value) params.set("speed", speed.value);
        button.disabled = true;
        button.textContent = "Loading the sample…";
        try {
          const response = await fetch(`/v1/voices/sample?${params}`, { credentials: "same-origin" });
          if (!response.ok) {
            const data = await response.json().catch(() => null);
            showError(select.form, data && data.error ? { ...data.error, field: "voice.voice" }
              : { message: "The sample could not be made.", field: "voice.voice" });
            return;
          }
          if (player.src) URL.revokeObjectURL(player.src);
          player.src = URL.createObjectURL(await response.blob());
          player.hidden = false;
          await player.play().catch(() => {});
        } finally {
          button.disabled = false;
          button.textContent = "Play a sample";
        }
      });
    });
  }

  // --- tabs (the ARIA tabs pattern: arrows move between tabs) -----------------------------

  function tabs(list, onChange) {
    const all = Array.from(list.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      all.forEach((other) => {
        const chosen = other === tab;
        other.setAttribute("aria-selected", String(chosen));
        other.tabIndex = chosen ? 0 : -1;
        const panel = document.getElementById(other.getAttribute("aria-controls"));
        panel.hidden = !chosen;
        // A hidden panel's controls are disabled too, so that the form sends none of them.
        panel.querySelectorAll("fieldset").forEach((set) => { set.disabled = !chosen; });
      });
      if (focus) tab.focus();
      if (onChange) onChange(tab);
    }
    all.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: 1, ArrowLeft: -1 };
        if (event.key in moves) {
          select(all[(i + moves[event.key] + all.length) % all.length], true);
          event.preventDefault();
        } else if (event.key === "Home" || event.key === "End") {
          select(all[event.key === "Home" ? 0 : all.length - 1], true);
          event.preventDefault();
        }
      });
    });
    return select;
  }

  // --- small formatting -------------------------------------------------------------------

  const STATUS = { queued: "Queued", running: "Running", awaiting_review: "Awaiting review",
    succeeded: "Done", failed: "Failed", canceled: "Canceled", partial: "Partly done",
    pending: "Waiting", skipped: "Skipped", unchanged: "Unchanged", parsing: "Reading the feed",
    planned: "Planned" };
  const statusLabel = (status) => STATUS[status] || status || "";

  function statusBadge(status) {
    return el("span", { class: `status status-${status}`, text: statusLabel(status) });
  }

  function elapsed(startedAt, finishedAt) {
    if (!startedAt) return "—";
    const end = finishedAt ? Date.parse(finishedAt) : Date.now();
    return `${Math.max(0, (end - Date.parse(startedAt)) / 1000).toFixed(1)} s`;
  }

  // Times come as UTC; people read them in their own time zone.
  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach((node) => {
      const moment = new Date(node.getAttribute("datetime"));
      if (!Number.isNaN(moment.getTime())) {
        node.textContent = moment.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    samplePlayers();
    localTimes();
  });

  return { api, upload, el, notice, formValue, markSaved, clearErrors, showError, follow, tabs,
    statusLabel, statusBadge, elapsed, profileId };
})();
