// Live occupation suggestions for the need intake form (progressive enhancement: the form
// works without JavaScript through the manual ROME code field).
(function () {
  "use strict";
  var input = document.getElementById("intitule");
  var box = document.getElementById("suggestions");
  if (!input || !box) return;
  var timer = null, last = "", controller = null;

  function render(data) {
    box.textContent = "";
    if (!data.suggestions.length) {
      var p = document.createElement("p");
      p.className = "hint";
      p.textContent = "Aucun métier reconnu : reformulez l'intitulé.";
      box.appendChild(p);
      return;
    }
    data.suggestions.forEach(function (s, i) {
      var label = document.createElement("label");
      label.className = "check suggestion";
      var radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "code_rome";
      radio.value = s.code_rome || s.code;
      radio.required = true;
      if (i === 0 && data.decision === "auto") radio.checked = true;
      label.appendChild(radio);
      var pct = Math.round(s.score * 100);
      label.appendChild(document.createTextNode(" " + s.libelle + " (" + radio.value + ") — " + pct + " %" + (s.correction ? " — correction enregistrée" : "")));
      box.appendChild(label);
    });
  }

  function fetchSuggestions() {
    var text = input.value.trim();
    if (text.length < 3 || text === last) return;
    last = text;
    if (controller) controller.abort();
    controller = new AbortController();
    var url = input.dataset.suggestions + "?type=metier&texte=" + encodeURIComponent(text);
    box.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", signal: controller.signal, headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(render)
      .catch(function (e) { if (e && e.name === "AbortError") return; box.textContent = "Suggestions indisponibles."; })
      .finally(function () { box.removeAttribute("aria-busy"); });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 250);
  });
})();
