(function () {
  var meta = JSON.parse(document.getElementById('skeleton').textContent);
  var colours = ['#ffc800', '#eeeeee', '#3cdc3c', '#2878ff'];
  var players = Array.prototype.slice.call(document.querySelectorAll('canvas.player'));
  players.forEach(function (c) {
    var raw = atob(c.getAttribute('data-points') || ''), n = meta.points;
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var frames = Math.floor(bytes.length / (2 * n));
    var fps = parseFloat(c.getAttribute('data-fps')) || 24, start = parseInt(c.getAttribute('data-start')) || 0;
    var total = parseInt(c.getAttribute('data-total')) || frames, tick = 0, playing = true;
    var ctx = c.getContext('2d');
    function decode(text) {
      var raw = atob(text || ''), out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    }
    // a processed copy (3b_smooth.py): its rows of the same stretch, and which points were filled
    var processed = decode(c.getAttribute('data-processed')), filled = decode(c.getAttribute('data-filled'));
    function at(f, k) { var o = (f * n + k) * 2; return [bytes[o], bytes[o + 1]]; }
    function pat(f, k) { var o = (f * n + k) * 2; return [processed[o], processed[o + 1]]; }
    function draw() {
      if (!frames) return;
      var f = tick % frames, w = c.width, h = c.height - 16;
      ctx.fillStyle = '#111'; ctx.fillRect(0, 0, c.width, c.height);
      ctx.lineWidth = 1.5;
      meta.bones.forEach(function (b) {
        var p = at(f, b[0]), q = at(f, b[1]);
        if (p[0] === 255 || q[0] === 255) return;
        ctx.strokeStyle = colours[meta.parts[b[1]]];
        ctx.beginPath(); ctx.moveTo(p[0] / 254 * w, p[1] / 254 * h); ctx.lineTo(q[0] / 254 * w, q[1] / 254 * h); ctx.stroke();
      });
      for (var k = 0; k < n; k++) {
        var p = at(f, k);
        if (p[0] === 255) continue;
        ctx.fillStyle = colours[meta.parts[k]];
        ctx.fillRect(p[0] / 254 * w - 1.5, p[1] / 254 * h - 1.5, 3, 3);
      }
      if (processed.length === bytes.length) {
        var drawn = 0;
        ctx.strokeStyle = '#ff3cff'; ctx.lineWidth = 1;
        meta.bones.forEach(function (b) {
          var p = pat(f, b[0]), q = pat(f, b[1]);
          if (p[0] === 255 || q[0] === 255) return;
          ctx.beginPath(); ctx.moveTo(p[0] / 254 * w, p[1] / 254 * h); ctx.lineTo(q[0] / 254 * w, q[1] / 254 * h); ctx.stroke();
          drawn += 1;
        });
        for (var j = 0; j < n; j++) {
          if (filled[f * n + j] !== 1) continue;
          var r = pat(f, j);
          if (r[0] === 255) continue;
          ctx.beginPath(); ctx.arc(r[0] / 254 * w, r[1] / 254 * h, 3, 0, 2 * Math.PI); ctx.stroke();
        }
        c.setAttribute('data-processed-bones', String(drawn));
      }
      var row = start + f;
      ctx.fillStyle = '#000'; ctx.fillRect(0, h, w, 16);
      ctx.fillStyle = '#fff'; ctx.font = '11px sans-serif';
      ctx.fillText('row ' + row + ' of ' + total + '   ' + (row / fps).toFixed(2) + ' s   (' + fps + ' fps)', 4, h + 12);
      c.setAttribute('data-frame', String(f));
      c.setAttribute('data-ticks', String(tick));
    }
    c.addEventListener('click', function () { playing = !playing; });
    draw();
    setInterval(function () { if (playing) { tick += 1; draw(); } }, 1000 / fps);
  });
  Array.prototype.slice.call(document.querySelectorAll('video.overlay')).forEach(function (v) {
    function note() {
      v.setAttribute('data-ready', String(v.readyState));
      v.setAttribute('data-width', String(v.videoWidth));
      v.setAttribute('data-height', String(v.videoHeight));
      v.setAttribute('data-duration', String(v.duration));
    }
    v.addEventListener('loadedmetadata', note);
    v.addEventListener('loadeddata', note);
    v.addEventListener('error', function () { v.setAttribute('data-error', String(v.error ? v.error.code : '?')); });
    if (v.readyState > 0) note();
  });
})();
