#!/usr/bin/env python3
"""Builds the JSONL corpora (one JSON string per line) bench/waf-corpus.sh measures, from the
registry packages it unpacked under $WAF_WORK."""
import json, glob, csv, re, random, os, urllib.parse, sys
W=os.environ.get('WAF_WORK', '/tmp/ballast-waf'); OUT=W+'/corpora'
os.makedirs(OUT, exist_ok=True)
csv.field_size_limit(10**8)
def dump(name, items):
    seen=set(); out=[]
    for s in items:
        if not isinstance(s,str) or not s.strip(): continue
        if s in seen: continue
        seen.add(s); out.append(s)
    with open(f'{OUT}/{name}.jsonl','w') as f:
        for s in out: f.write(json.dumps(s)+'\n')
    print(f'{name}: {len(out)}')

# --- attack: fray (PyPI fray 3.5.249, MIT) ; skip files polluted with python source
X=W+'/py/x'
def fray(cat, files):
    r=[]
    for fn in files:
        d=json.load(open(f'{X}/fray/payloads/{cat}/{fn}'))
        r+= [p['payload'] for p in d['payloads']]
    return r
dump('atk_sqli_fray', fray('sqli',['advanced.json','comprehensive.json','general.json','threat_intel.json','waf_bypass_sqli.json']))
xss=fray('xss',['advanced.json','cloudflare_akamai_bypass.json','dom_and_modern.json','event_handlers.json','waf_bypass_advanced.json','threat_intel.json'])
for t in ['xss_basic.txt','xss_advanced.txt']:
    xss+= [l.rstrip('\n') for l in open(f'{X}/fray/payloads/xss/{t}') if l.strip() and not l.startswith('#')]
dump('atk_xss_fray', xss)

# --- attack: protego-sqli 1.0.1 (MIT) labelled set
def protego(fn):
    pos,neg=[],[]
    for r in csv.DictReader(open(f'{X}/protego/datasets/delivered/{fn}',encoding='utf-8',errors='replace')):
        (pos if float(r['label'])==1.0 else neg).append(r['payload'])
    return pos,neg
p1,n1=protego('sqli_test.csv'); p2,n2=protego('sqli_train.csv')
dump('atk_sqli_protego', p1+p2)
dump('ben_form_protego', n1)  # form-field values (CSIC-2010-style)

# --- attack: wfuzz wordlists (Debian wfuzz 3.1.0-2, GPL-2)
D=W+'/deb/ext/usr/share/wfuzz/wordlist/Injections'
dump('atk_sqli_wfuzz', [l.rstrip('\n') for l in open(D+'/SQL.txt',errors='replace')])
dump('atk_xss_wfuzz', [l.rstrip('\n') for l in open(D+'/XSS.txt',errors='replace')])

# --- attack: sqlmap 1.10.10 (PyPI, GPL-2) payload templates x boundaries, placeholders filled
import xml.etree.ElementTree as ET
S=X+'/sqlmap/data/xml'
bounds=[]
for b in ET.parse(S+'/boundaries.xml').getroot().findall('boundary'):
    if int(b.findtext('level'))>2: continue
    bounds.append((set(b.findtext('clause').split(',')), b.findtext('prefix') or '', b.findtext('suffix') or '', b.findtext('where')))
rnd=random.Random(1)
def fill(s):
    s=re.sub(r'\[RANDNUM\d?\]', lambda m: str(rnd.randint(1000,9999)), s)
    s=re.sub(r'\[RANDSTR\d?\]', lambda m: ''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(4)), s)
    for k,v in {'[INFERENCE]':'1=1','[SLEEPTIME]':'5','[DELIMITER_START]':'qkvjq','[DELIMITER_STOP]':'qpxzq',
                '[ORIGVALUE]':'1','[GENERIC_SQL_COMMENT]':'-- -','[QUERY]':'SELECT 1','[CHAR]':'NULL','[COLSTART]':'1','[COLSTOP]':'10',
                '[UNION]':'UNION ALL SELECT NULL','[ORIGINAL]':'1'}.items(): s=s.replace(k,v)
    return s
sq=[]
for fn in glob.glob(S+'/payloads/*.xml'):
    for t in ET.parse(fn).getroot().findall('test'):
        if int(t.findtext('level'))>2: continue
        pl=t.find('request').findtext('payload')
        if not pl: continue
        clause=set(t.findtext('clause').split(','))
        for bc,pre,suf,where in bounds:
            if not ('0' in bc or '0' in clause or bc&clause): continue
            orig = '-1234' if where=='2' else '1'
            sq.append(fill(orig+pre+' '+pl+suf))
dump('atk_sqli_sqlmap', sq)

# --- benign: url crate 2.5.9 tests/urltestdata.json (WPT URL tests, MIT/Apache-2.0); only non-failure inputs
U=glob.glob(os.path.expanduser('~/.cargo/registry/src/index*/url-2.5.9/tests/urltestdata.json'))[0]
d=[x for x in json.load(open(U)) if isinstance(x,dict) and not x.get('failure')]
dump('ben_url_wpt', [x['href'] for x in d])
# decoded query strings / paths of those, as a WAF would see args
qs=[]
for x in d:
    if x.get('search'): qs+= [urllib.parse.unquote_plus(v) for k,v in urllib.parse.parse_qsl(x['search'][1:], keep_blank_values=True) if v]
# --- benign: sqlmap user-agents.txt (header values)
dump('ben_useragents_sqlmap', [l.strip() for l in open(X+'/sqlmap/data/txt/user-agents.txt',errors='replace') if l.strip() and not l.startswith('#')])

# --- benign: JSON bodies = package.json files in npm@11.19.1 tarball (npm registry, Artistic-2.0 + deps)
docs=[open(f).read() for f in sorted(glob.glob(W+'/npm/npmpkg/**/*.json', recursive=True))]
dump('ben_json_npm_docs', docs)
leaves=[]
def walk(o):
    if isinstance(o,dict):
        for v in o.values(): walk(v)
    elif isinstance(o,list):
        for v in o: walk(v)
    elif isinstance(o,str): leaves.append(o)
for t in docs:
    try: walk(json.loads(t))
    except Exception: pass
dump('ben_json_npm_leaves', leaves)

# --- benign: Faker 40.54.0 (MIT) seeded form posts (urlencoded bodies) and their decoded field values
from faker import Faker
fk=Faker(['en_US','en_GB','fr_FR','de_DE','es_ES']); Faker.seed(42)
forms=[]; fields=[]
for i in range(5000):
    f={'name':fk.name(),'email':fk.email(),'address':fk.address().replace('\n',', '),'company':fk.company(),
       'comment':fk.paragraph(nb_sentences=3),'phone':fk.phone_number(),'website':fk.url(),'search':fk.sentence(nb_words=5),
       'title':fk.catch_phrase(),'user_agent':fk.user_agent(),'date':fk.date(),'q':fk.word()}
    if i%7==0: f['name']="O'"+fk.last_name()   # apostrophes: the classic FP trigger
    if i%11==0: f['comment']=fk.sentence()+" It's 5' 11\" tall & costs <$20>; don't panic -- ok?"
    forms.append(urllib.parse.urlencode(f)); fields+= list(f.values())
dump('ben_form_faker_bodies', forms)
dump('ben_form_faker_fields', fields)
dump('ben_url_wpt_query_values', qs)
