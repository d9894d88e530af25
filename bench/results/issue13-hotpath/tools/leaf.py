import subprocess,sys,collections
def leaves(f):
    out=subprocess.run(['perf','script','-i',f,'--comm','sockperf','-F','ip,sym'],capture_output=True,text=True).stdout
    c=collections.Counter()
    for blk in out.split('\n\n'):
        l=blk.strip().splitlines()
        if l: c[(l[0].split(None,1)+['?'])[1].split('+')[0]]+=1
    return c
a=leaves('ul.rr.data'); b=leaves('pw.rr.data')
ka=1e9/4999/309949; kb=1e9/4999/293595
S=sys.argv[1].split(',')
print('underlay %.0f podwire %.0f ns/RT'%(sum(a[s] for s in S)*ka, sum(b[s] for s in S)*kb))
