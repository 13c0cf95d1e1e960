// Roster console: small enhancements over pages that work without JavaScript.
// Loaded from /static (the Content-Security-Policy allows no inline script).
"use strict";

// Search Now uses the saved settings: while the settings form has unsaved changes, the button
// is disabled and says why (the guide: "Ensure that all your settings are saved first").
// Forms opt in with data-unsaved-guard="ID of the element to disable"; that element's
// data-unsaved-explanation names the element that says why, shown while it is disabled.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-unsaved-guard]")) {
    const target = document.getElementById(form.dataset.unsavedGuard);
    if (!target) continue;
    const explain = document.getElementById(target.dataset.unsavedExplanation || "");
    const initial = new FormData(form);
    const changed = () => {
      const now = new FormData(form);
      const keys = new Set([...initial.keys(), ...now.keys()]);
      for (const key of keys) {
        if (key === "csrf_token") continue;
        if (initial.getAll(key).join("\u0000") !== now.getAll(key).join("\u0000")) return true;
      }
      return false;
    };
    // The explanation is part of the button's description only while it applies: a hidden
    // element named by aria-describedby would still be read out.
    const describe = (dirty) => {
      if (!explain) return;
      const ids = (target.getAttribute("aria-describedby") || "").split(/\s+/).filter((id) => id && id !== explain.id);
      if (dirty) ids.push(explain.id);
      target.setAttribute("aria-describedby", ids.join(" "));
    };
    const update = () => {
      const dirty = changed();
      target.disabled = dirty;
      if (explain) explain.hidden = !dirty;
      describe(dirty);
    };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }
});

// A running sync's page follows the run's server-sent events and, when the run ends, loads
// again to show its result. Without JavaScript the page refreshes itself instead (noscript).
document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-run-events]");
  if (!live) return;
  const events = new EventSource(live.dataset.runEvents);
  events.addEventListener("progress", (event) => {
    const progress = JSON.parse(event.data);
    for (const field of live.querySelectorAll("[data-progress]")) {
      const value = progress[field.dataset.progress];
      field.textContent = value === null || value === undefined ? "starting" : String(value);
    }
  });
  events.addEventListener("finished", () => {
    events.close();
    window.location.reload();
  });
});

// htmx does not swap an error answer, so a failed request would pass unnoticed: a box would look
// unchecked while the server keeps it checked. Put the control that sent it back as the server
// has it (the request changed nothing) and say what happened, in the words of Roster's error page.
function reportFailedRequest(event, message) {
  const source = event.detail.requestConfig?.triggeringEvent?.target;
  if (source instanceof HTMLInputElement && (source.type === "checkbox" || source.type === "radio")) {
    source.checked = !source.checked;
  }
  const region = document.getElementById("request-error");
  if (region) region.textContent = message;
}

document.addEventListener("htmx:beforeRequest", () => {
  const region = document.getElementById("request-error");
  if (region) region.textContent = "";
});

document.addEventListener("htmx:responseError", (event) => {
  const page = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
  const lines = [...(page.getElementById("error-detail")?.querySelectorAll("p") ?? [])];
  const detail = lines.map((line) => line.textContent.trim()).join(" ");
  reportFailedRequest(
    event,
    detail || "Roster could not complete the request; nothing was changed. Reload the page and try again.",
  );
});

document.addEventListener("htmx:sendError", (event) => {
  reportFailedRequest(
    event,
    "Roster could not be reached, so nothing was changed. Check your network connection, reload the page and try again.",
  );
});
