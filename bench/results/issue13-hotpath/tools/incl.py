import subprocess,sys,re
# incl.py data obs freq sym-regex... : inclusive ns/obs from perf script call chains (comm sockperf)
f,obs,freq=sys.argv[1],float(sys.argv[2]),float(sys.argv[3])
pats=[re.compile(p) for p in sys.argv[4:]]
out=subprocess.run(['perf','script','-i',f,'--comm','sockperf','-F','ip,sym'],capture_output=True,text=True).stdout
cnt=[0]*len(pats); total=0
for blk in out.split('\n\n'):
    syms=[l.split(None,1)[1] if len(l.split(None,1))>1 else '' for l in blk.strip().splitlines()]
    if not syms: continue
    total+=1
    for i,p in enumerate(pats):
        if any(p.search(s) for s in syms): cnt[i]+=1
print('total %.0f ns/obs'%(total*1e9/freq/obs))
for p,c in zip(sys.argv[4:],cnt): print('%8.0f  %s'%(c*1e9/freq/obs,p))
