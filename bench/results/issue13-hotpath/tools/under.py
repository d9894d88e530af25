import subprocess,sys,re,collections
# under.py data obs freq regex : leaf breakdown (ns/obs) of samples whose chain contains regex; also the direct child of regex
f,obs,freq,pat=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),re.compile(sys.argv[4])
out=subprocess.run(['perf','script','-i',f,'--comm','sockperf','-F','ip,sym'],capture_output=True,text=True).stdout
leaf=collections.Counter(); child=collections.Counter()
for blk in out.split('\n\n'):
    syms=[(l.split(None,1)[1] if len(l.split(None,1))>1 else '?').split('+')[0] for l in blk.strip().splitlines()]
    for i,s in enumerate(syms):
        if pat.search(s):
            leaf[syms[0]]+=1; child[syms[i-1] if i>0 else '(self)']+=1; break
k=1e9/freq/obs
print('-- direct children'); [print('%7.0f %s'%(c*k,s)) for s,c in child.most_common(25)]
print('-- leaves'); [print('%7.0f %s'%(c*k,s)) for s,c in leaf.most_common(25)]
