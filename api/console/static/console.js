// The upload form sends its files with a progress bar; without JavaScript it posts as usual.
(function () {
  "use strict";
  const form = document.getElementById("upload");
  if (!form || !window.FormData) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) return;
      const share = Math.round((100 * progress.loaded) / progress.total);
      bar.value = share;
      status.textContent = share < 100 ? "Uploading: " + share + "%" : "Uploaded; reading the files…";
    });
    request.addEventListener("load", function () {
      if (request.status < 400) {
        window.location.assign(request.responseURL);
      } else {
        // The form again, its errors beside their fields.
        document.open();
        document.write(request.responseText);
        document.close();
      }
    });
    request.addEventListener("error", function () {
      status.textContent = "The upload did not reach the server; try again.";
    });
    bar.hidden = false;
    status.textContent = "Uploading…";
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
})();

// A running run's log grows on its page: new lines are fetched every second until it has
// ended and every line is shown.
(function () {
  "use strict";
  const log = document.getElementById("log");
  if (!log || log.dataset.follow !== "true" || !window.fetch) return;
  const body = log.querySelector("tbody");
  const state = document.querySelector("#run-state .state");
  const status = document.getElementById("log-status");
  let offset = Number(log.dataset.offset);
  function cell(row, text, name) {
    const td = row.insertCell();
    td.textContent = text;
    if (name) td.className = name;
  }
  function stop(message) {
    status.textContent = message;
  }
  function poll() {
    fetch(log.dataset.events + "?offset=" + offset, { credentials: "same-origin" })
      .then(function (response) {
        const type = response.headers.get("content-type") || "";
        if (response.redirected || response.status === 303) {
          return Promise.reject("You have been signed out: reload the page to sign in again.");
        }
        if (!response.ok || type.indexOf("json") < 0) {
          return Promise.reject("The log could not be read (" + response.status + "); reload the page to try again.");
        }
        return response.json();
      })
      .then(function (page) {
        page.events.forEach(function (event) {
          const row = body.insertRow();
          cell(row, event.time);
          cell(row, event.level);
          cell(row, event.step);
          cell(row, event.message, "message");
        });
        offset = page.next_offset;
        state.textContent = page.status.toLowerCase();
        state.className = "state state-" + page.status.toLowerCase();
        if (!page.finished) window.setTimeout(poll, 1000);
        else if (page.events.length) poll(); // lines the run wrote before it ended
      })
      .catch(function (problem) {
        if (typeof problem === "string") stop(problem);
        else window.setTimeout(poll, 3000); // the network: try again
      });
  }
  window.setTimeout(poll, 1000);
})();
