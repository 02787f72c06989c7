(function(){
'use strict';
var $=function(id){return document.getElementById(id);};
var orgs=[].slice.call(document.querySelectorAll('section.org'));
var model=orgs.map(function(o){
  return {el:o,b:o.getAttribute('data-b'),sess:[].slice.call(o.querySelectorAll('.sess')).map(function(s){
    var h=s.querySelector('h4');
    return {el:s,head:h?h.textContent:'',items:[].slice.call(s.querySelectorAll('li.f')).map(function(li){
      return {el:li,s:li.getAttribute('data-s'),r:li.getAttribute('data-r'),a:li.getAttribute('data-a'),
        old:li.getAttribute('data-old')==='1',t:null};})};})};});
var total=0;model.forEach(function(o){o.sess.forEach(function(s){total+=s.items.length;});});
function norm(x){x=x.toLowerCase();return x.normalize?x.normalize('NFD').replace(/[\u0300-\u036f]/g,''):x;}
var fb=$('f-body'),fr=$('f-rule'),fa=$('f-age'),fq=$('f-q'),cnt=$('f-count'),pr=$('f-print');
var sevs=[].slice.call(document.querySelectorAll('input[name=sev]'));
function fmt(n){return String(n).replace(/\B(?=(\d{3})+(?!\d))/g,'\u202f');}
function apply(){
  var b=fb.value,r=fr.value,a=fa.value,q=norm(fq.value.trim()),on={},shown=0,any=false;
  sevs.forEach(function(c){on[c.value]=c.checked;});
  model.forEach(function(o){
    var oShown=0;
    if(b&&o.b!==b){o.el.hidden=true;return;}
    o.sess.forEach(function(s){
      var sShown=0,hq=q&&norm(s.head).indexOf(q)>=0;
      s.items.forEach(function(it){
        var ok=on[it.s]!==false&&(!r||it.r===r)&&(!a||(a==='old'?it.old:it.a===a));
        if(ok&&q&&!hq){if(it.t===null)it.t=norm(it.el.textContent);ok=it.t.indexOf(q)>=0;}
        it.el.hidden=!ok;if(ok)sShown++;});
      s.el.hidden=sShown===0;oShown+=sShown;});
    o.el.hidden=oShown===0&&o.sess.length>0;shown+=oShown;if(oShown)any=true;});
  var filtered=b||r||a||q||sevs.some(function(c){return !c.checked;});
  cnt.textContent=filtered?(fmt(shown)+' constat(s) affiché(s) sur '+fmt(total)):(fmt(total)+' constat(s) détaillé(s)');
  $('nomatch').hidden=any||total===0;
  var desc=[];
  if(b)desc.push('organisme : '+fb.options[fb.selectedIndex].text);
  if(r)desc.push('règle : '+fr.options[fr.selectedIndex].text);
  if(a)desc.push('ancienneté : '+fa.options[fa.selectedIndex].text);
  if(q)desc.push('recherche : « '+fq.value.trim()+' »');
  var off=sevs.filter(function(c){return !c.checked;}).map(function(c){return c.parentNode.textContent.trim();});
  if(off.length)desc.push('masqués : '+off.join(', '));
  pr.textContent=desc.length?('Filtres appliqués à cette impression : '+desc.join(' ; ')):'';
}
var timer=null;
fq.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(apply,150);});
[fb,fr,fa].concat(sevs).forEach(function(e){e.addEventListener('change',apply);});
$('f-reset').addEventListener('click',function(){fb.value='';fr.value='';fa.value='';fq.value='';sevs.forEach(function(c){c.checked=true;});apply();});
function setOpen(o,open){o.classList.toggle('collapsed',!open);var t=o.querySelector('.toggle');
  if(t){t.setAttribute('aria-expanded',open?'true':'false');t.textContent=open?'Replier':'Déplier';}}
orgs.forEach(function(o){var t=o.querySelector('.toggle');if(t)t.addEventListener('click',function(){
  setOpen(o,o.classList.contains('collapsed'));});});
$('f-expand').addEventListener('click',function(){orgs.forEach(function(o){setOpen(o,true);});});
$('f-collapse').addEventListener('click',function(){orgs.forEach(function(o){setOpen(o,false);});});
[].slice.call(document.querySelectorAll('a[href^="#org-"]')).forEach(function(a){a.addEventListener('click',function(){
  var o=document.getElementById(a.getAttribute('href').slice(1));if(o){o.hidden=false;setOpen(o,true);}});});
function copied(btn){var old=btn.textContent;btn.textContent='Copié ✓';btn.classList.add('done');
  setTimeout(function(){btn.textContent=old;btn.classList.remove('done');},2000);}
[].slice.call(document.querySelectorAll('button.copy')).forEach(function(btn){btn.addEventListener('click',function(){
  var pre=document.getElementById(btn.getAttribute('data-target'));var text=pre.textContent;
  function fallback(){var ta=document.createElement('textarea');ta.value=text;ta.setAttribute('readonly','');
    ta.style.position='fixed';ta.style.left='-9999px';document.body.appendChild(ta);ta.select();
    try{document.execCommand('copy');copied(btn);}catch(e){}document.body.removeChild(ta);}
  if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(function(){copied(btn);},fallback);}
  else{fallback();}});});
[].slice.call(document.querySelectorAll('button[data-age]')).forEach(function(btn){btn.addEventListener('click',function(){
  var age=btn.getAttribute('data-age');
  if(age==='resolved'){var sec=$('resolus');if(sec)sec.scrollIntoView();return;}
  fa.value=age;apply();var c=$('constats');if(c)c.scrollIntoView();});});
apply();
})();
