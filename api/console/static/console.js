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
