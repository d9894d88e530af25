import subprocess,sys,re,collections
# cost.py data ops freq comms(csv) [regex...] : total CPU ns/op of those comms, and inclusive ns/op per regex
f,ops,freq,comms=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]
pats=[re.compile(p) for p in sys.argv[5:]]
sel=['--pid',comms[4:]] if comms.startswith('pid:') else ['--comms',comms]
out=subprocess.run(['perf','script','-i',f]+sel+['-F','ip,sym'],capture_output=True,text=True).stdout
cnt=[0]*len(pats); total=0
for blk in out.split('\n\n'):
    syms=[l.split(None,1)[1] if len(l.split(None,1))>1 else '' for l in blk.strip().splitlines()]
    if not syms: continue
    total+=1
    for i,p in enumerate(pats):
        if any(p.search(s) for s in syms): cnt[i]+=1
k=1e9/freq/ops
print('total %.0f ns/op'%(total*k), ' '.join('%s=%.0f'%(p,c*k) for p,c in zip(sys.argv[5:],cnt)))
